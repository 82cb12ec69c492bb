import Foundation
import TestSupport
import Testing

/// `broker run` as a process on in-memory queues (no RabbitMQ needed for its signal handling).
@Suite struct SignalTests {
    func startBroker() throws -> ChildProcess {
        try ChildProcess(
            "broker",
            arguments: [
                "run", "--transport", "memory://signals", "--rules", "rules/default.yaml", "--registry",
                "rules/registries/three-agents.yaml", "--admin-address", "127.0.0.1:0", "--no-watch-rules",
            ])
    }

    @Test func aSIGHUPAtOnceAfterStartDoesNotKillTheProcess() async throws {
        for _ in 0..<5 {
            let broker = try startBroker()
            broker.send(SIGHUP)
            try await Task.sleep(for: .milliseconds(300))
            #expect(broker.isRunning, "a SIGHUP right after start killed broker run\n\(broker.tail())")
            broker.send(SIGHUP)
            try await eventually("running and reloading", timeout: .seconds(10)) {
                broker.output.contains("broker running")
            }
            #expect(await broker.stop() == 0, "\(broker.tail())")
        }
    }

    @Test func sigtermDrainsAndExitsZero() async throws {
        let broker = try startBroker()
        try await eventually("running", timeout: .seconds(10)) { broker.output.contains("broker running") }
        #expect(await broker.stop() == 0, "\(broker.tail())")
        #expect(broker.output.contains("drained"))
    }

    /// A RabbitMQ that accepts the connection and never speaks, and an agent server that does
    /// the same: SIGTERM still ends the process within the drain deadline and a margin.
    @Test func sigtermEndsTheProcessWithinTheDrainDeadlineWhenPeersHang() async throws {
        let silentRabbit = try ListeningSocket()
        let silentServer = try ListeningSocket()
        let broker = try ChildProcess(
            "broker-hung-peers",
            arguments: [
                "run", "--transport", "amqp://guest:guest@127.0.0.1:\(silentRabbit.port)/", "--rules",
                "rules/default.yaml", "--websocket-url", "ws://127.0.0.1:\(silentServer.port)/ws", "--admin-address",
                "127.0.0.1:0", "--no-watch-rules", "--drain-timeout", "1",
            ])
        try await eventually("running", timeout: .seconds(10)) { broker.output.contains("broker running") }
        try await Task.sleep(for: .milliseconds(500))  // every peer connection is under way and hanging
        let signalled = ContinuousClock.now
        broker.send(SIGTERM)
        let status = await broker.waitForExit(timeout: .seconds(20))
        let took = ContinuousClock.now - signalled
        #expect(status != nil, "still running 20 s after SIGTERM\n\(broker.tail())")
        #expect(took < .seconds(8), "exited \(took) after SIGTERM; the deadline is 1 s plus a 5 s margin")
    }
}
