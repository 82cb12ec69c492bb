import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// One of the simulator's HTTP servers (WebSocket, control): a Hummingbird application started
/// in a service group of its own, once it listens. ``start(retryingFor:logger:_:)`` returns the
/// bound port, or throws when the port cannot be bound (it never waits for a server that
/// failed), so the simulator fails at start-up with the reason. The simulator starts, stops and
/// restarts its servers one by one, so each has its own group; the daemon's admin server is a
/// service of the daemon's one group instead.
final class ListeningServer: Sendable {
    /// The bound port.
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    /// Builds the application with `make` (hand its `onServerRunning` parameter the closure it
    /// gets) and runs it until it listens. A taken port is tried again for `retryingFor` (a
    /// restarting server whose old socket is still closing), then the bind error is thrown.
    static func start<Application: Service>(
        retryingFor: Duration = .zero, logger: Logger,
        _ make: (_ onServerRunning: @escaping @Sendable (any Channel) async -> Void) -> Application
    ) async throws -> ListeningServer {
        let deadline = ContinuousClock.now + retryingFor
        while true {
            let ready = AsyncStream.makeStream(of: Int.self)
            let application = make { channel in ready.continuation.yield(channel.localAddress?.port ?? 0) }
            let group = ServiceGroup(services: [application], logger: logger)
            let task = Task {
                defer { ready.continuation.finish() }
                try await group.run()
            }
            var bound: Int?
            for await port in ready.stream {
                bound = port
                break
            }
            if let bound { return ListeningServer(port: bound, group: group, task: task) }
            do {
                try await task.value
                throw ServerStoppedError()
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Shuts the server down gracefully and waits for it.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// The server stopped before it listened, without an error of its own.
    struct ServerStoppedError: Error, CustomStringConvertible {
        var description: String { "the HTTP server stopped before it listened" }
    }
}
