import AMQPTransport
import Foundation
import TestSupport
import Testing

extension RabbitMQIntegration {
    /// The input queue deleted under load (an operator's mistake, a policy): what the broker had
    /// received is routed, nothing is requeued into a queue that is gone, and consuming resumes.
    @Suite(.serialized, .timeLimit(.minutes(10))) struct InputQueueDeletionTests {
        /// `broker_decisions_total` summed by outcome, from the broker's `/metrics`.
        func decisions(_ system: WholeSystem) async -> [String: Int] {
            let (_, body) = await http("GET", "http://127.0.0.1:\(system.adminPort)/metrics", timeout: 2)
            var totals: [String: Int] = [:]
            for line in body.split(separator: "\n") where line.hasPrefix("broker_decisions_total{") {
                guard let outcome = line.split(separator: "outcome=\"").last?.split(separator: "\"").first,
                    let value = line.split(separator: " ").last.flatMap({ Double($0) })
                else { continue }
                totals[String(outcome), default: 0] += Int(value)
            }
            return totals
        }

        @Test func deletingTheInputQueueLosesNothingTheBrokerReceived() async throws {
            let rules = try String(
                contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8
            ).replacingOccurrences(of: "output: server_input_queue", with: "output: routed_out")
            try await withWholeSystem(agents: 3, rules: rules) { system in
                try system.startBroker()
                try await eventually("the broker is ready", timeout: .seconds(30)) { await system.brokerReady() }
                let vhost = system.vhost
                try await vhost.publish((0..<4_000).map { text("m\($0)", from: "web_1") }, to: "broker_input_queue")
                try await eventually("routing under way") { try vhost.count("routed_out") >= 300 }
                // Deleted while a producer keeps publishing (what it sends meanwhile is RabbitMQ's
                // to drop: the queue is gone) and while hundreds are in flight in the broker.
                let producer = Task {
                    for batch in 0..<20 {
                        try await vhost.publish(
                            (0..<50).map { text("during\(batch)-\($0)", from: "web_1") }, to: "broker_input_queue")
                        try await pace(.milliseconds(20))
                    }
                }
                try await pace(.milliseconds(100))  // the producer under way
                try AMQPAdmin.deleteQueue("broker_input_queue", configuration: vhost.configuration)
                try await producer.value
                let configuration = vhost.configuration
                try await eventually("declared again", timeout: .seconds(10)) {
                    (try? AMQPAdmin.queueExists("broker_input_queue", configuration: configuration)) == true
                }
                let before = try vhost.count("routed_out")
                try await vhost.publish((0..<500).map { text("after\($0)", from: "web_1") }, to: "broker_input_queue")
                var last = -1
                try await eventually(
                    "every message published after it is routed", timeout: .seconds(30), every: .milliseconds(500)
                ) {
                    let now = try vhost.count("routed_out")
                    defer { last = now }
                    return now >= before + 500 && now == last
                }
                let counts = await decisions(system)
                let routed = try vhost.count("routed_out")
                #expect(counts["requeued", default: 0] == 0, "requeued into a deleted queue: \(counts)")
                #expect(counts["published"] == routed, "decided \(counts), routed \(routed)")
                #expect(try vhost.count("broker_dead_letter") == 0)
                #expect(await system.brokerReady())
            }
        }
    }
}
