import BrokerCore
import BrokerRouter
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import RoutingRules
import ServiceLifecycle
import Synchronization

/// The admin HTTP server: the admin API (``AdminAPI``) and the console (``Console``) over an
/// ``AdminSource``, with the listener's limits (connections, idle time) and its guards (token,
/// local host names, same-origin writes).
///
/// Bound to 127.0.0.1 by default. Bound anywhere else it requires a token
/// (`Authorization: Bearer …`) for `/-/reload`, `/decisions` and `/-/try`, and refuses to start without one.
public final class AdminServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        /// The port `broker run` listens on unless told otherwise (no common tool uses it; 9090,
        /// the previous default, is Prometheus's own).
        public static let defaultPort = 7391
        /// 0 picks a free port (tests).
        public var port = defaultPort
        public var token: String?
        /// Whether `/decisions` includes explain traces (they quote message fields); without
        /// them it shows time, route, outcome and message id only.
        public var showsDecisionTraces = true
        /// Connections idle this long are closed (3,000 idle connections were held open before).
        public var idleTimeout: Duration = .seconds(30)
        /// At most this many admin connections are open at once; more wait in the listen backlog.
        /// Kept well below the process's file limit: 1,100 idle connections once took every file
        /// descriptor and the AMQP reconnection failed for 30 s.
        public var maximumConnections = 128

        public init() {}

        var isLoopback: Bool { host == "127.0.0.1" || host == "localhost" || host == "::1" }
    }

    let configuration: Configuration
    private let listening = Listening()
    /// The filtered and sorted `/agents` queries, bounded.
    public let agentQueries = AgentQueryCache()

    public init(configuration: Configuration) { self.configuration = configuration }

    /// `host:port` once started.
    public var address: String { "\(configuration.host):\(port)" }
    public var port: Int { listening.port ?? 0 }

    /// Waits until the server listens (true) or failed to (false).
    public func waitUntilListening() async -> Bool { await listening.outcome() }

    struct MissingToken: Error, CustomStringConvertible {
        var description: String { "the admin server is bound to a non-loopback address: set an admin token" }
    }

    /// Serves the admin API and the console over `source` until the service group's graceful
    /// shutdown; throws ``CannotBind`` when the address cannot be bound.
    public func run(source: any AdminSource) async throws {
        // However it ends, whoever still waits learns it will not listen (after a bind, a no-op).
        defer { listening.fail() }
        try await serve(source: source)
    }

    private func serve(source: any AdminSource) async throws {
        guard configuration.isLoopback || configuration.token != nil else { throw MissingToken() }
        let router = Router()
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: SameOriginWrites())
        if configuration.token == nil {
            // Without a token only local pages may ask: a browser page that renames its own
            // host to 127.0.0.1 (DNS rebinding) still sends its own name in Host.
            router.add(middleware: LocalHostOnly())
        }
        let authorization = AdminAuthorization(token: configuration.token)
        let traces = configuration.showsDecisionTraces
        router.addRoutes(
            AdminAPI(source: source, authorization: authorization, showsTraces: traces, agentQueries: agentQueries)
                .routes)
        router.addRoutes(Console(source: source, authorization: authorization, showsTraces: traces).routes)
        var logger = Logger(label: "broker.admin")
        logger.logLevel = .warning
        let address = BindAddress(host: configuration.host, port: configuration.port)
        let idleTimeout = configuration.idleTimeout
        let maximumConnections = max(1, configuration.maximumConnections)
        let listening = self.listening
        let application = Application(
            router: router, server: .http1(configuration: .init(idleTimeout: .init(idleTimeout))),
            configuration: .init(
                address: .hostname(address.host, port: address.port),
                availableConnectionsDelegate: MaximumAvailableConnections(maximumConnections)),
            onServerRunning: { channel in listening.bound(to: channel.localAddress?.port ?? 0) }, logger: logger)
        do {
            try await application.run()
        } catch let error where listening.port == nil {
            throw CannotBind(address: "\(address.host):\(address.port)", reason: "\(error)")
        }
    }

    private struct BindAddress: Sendable {
        var host: String
        var port: Int
    }

    /// The admin address could not be bound (taken, or not an address of this host).
    public struct CannotBind: Error, CustomStringConvertible {
        public var address: String
        public var reason: String
        public var description: String { "cannot listen on the admin address \(address): \(reason)" }
    }
}
