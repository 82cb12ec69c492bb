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
}
