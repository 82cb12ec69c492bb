import AMQPTransport
import Foundation
import TestSupport
import Testing

extension RabbitMQIntegration {
    /// Queues the broker owns by configuration are there when it publishes.
    @Suite(.serialized, .timeLimit(.minutes(10))) struct OutputQueueTests {
        /// A deleted output queue was never declared again: every copy waited out
        /// --unroutable-retry (30 s) and was dead-lettered, with no log line.
        @Test func aDeletedOutputQueueIsDeclaredAgainAtOnce() async throws {
            let rules = try String(
                contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8
            ).replacingOccurrences(of: "output: server_input_queue", with: "output: routed_out")
            try await withWholeSystem(agents: 3, rules: rules) { system in
                try system.startBroker()
                try await eventually("the broker is ready", timeout: .seconds(30)) { await system.brokerReady() }
                try await system.vhost.publish([text("first", from: "web_1")], to: "broker_input_queue")
                try await eventually("routed") { try system.vhost.count("routed_out") == 1 }
                try AMQPAdmin.deleteQueue("routed_out", configuration: system.vhost.configuration)
                try await system.vhost.publish(
                    (0..<20).map { text("after-\($0)", from: "web_1") }, to: "broker_input_queue")
                // Looked at passively: counting would declare the queue itself.
                let configuration = system.vhost.configuration
                try await eventually("the broker declares the queue again", timeout: .seconds(10)) {
                    (try? AMQPAdmin.queueExists("routed_out", configuration: configuration)) == true
                }
                try await eventually("every copy reaches it", timeout: .seconds(10)) {
                    (try? system.vhost.count("routed_out")) == 20
                }
                #expect(try system.vhost.count("broker_dead_letter") == 0)
                let log = system.broker?.output ?? ""
                #expect(log.contains("an output queue was gone: declared it again"), "\(system.logs)")
                #expect(await system.brokerReady())
            }
        }
    }
}
