import AMQPTestSupport
import AMQPTransport
import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import RoutingRules
import TestSupport
import Testing

/// The RabbitMQ node the test script started (scripts/rabbitmq.sh, run by `make test`).
let rabbit = TestRabbitMQ.configuration

/// Fails the test loudly when RabbitMQ is not reachable (never skips).
func requireRabbitMQ() throws { try TestRabbitMQ.requireReachable() }

/// Queue names unique to one test, so tests never see each other's messages.
struct TestQueues {
    let id = String(UUID().uuidString.prefix(8)).lowercased()
    var input: String { "test_\(id)_input" }
    var output: String { "test_\(id)_output" }
    var deadLetter: String { "test_\(id)_dead" }

    /// The text of `rules/default.yaml` with this test's output and dead-letter queues.
    func defaultRulesText() throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "output: server_input_queue", with: "output: \(output)")
            .replacingOccurrences(of: "dead_letter: broker_dead_letter", with: "dead_letter: \(deadLetter)")
    }

    /// `rules/default.yaml` with this test's output and dead-letter queues.
    func defaultRules() throws -> RuleSet {
        try #require(
            RuleSetLoader().load([RuleSource(name: "default.yaml", text: try defaultRulesText())]).ruleSet)
    }

    func cleanUp() {
        for queue in [input, output, deadLetter] { try? AMQPAdmin.deleteQueue(queue, configuration: rabbit) }
    }
}

/// Publishes bodies to `queue` with confirms; returns when all are confirmed.
func fill(_ queue: String, with bodies: [[UInt8]], headers: Headers = [:]) async throws {
    try await TestRabbitMQ.publish(
        bodies, to: queue, properties: MessageProperties(headers: headers), configuration: rabbit)
}

/// Reads every message of `queue` until it stays empty for `quiet`.
func collect(_ queue: String, quiet: Duration = .milliseconds(700)) async -> [InboundMessage] {
    await TestRabbitMQ.drain(queue, configuration: rabbit, quiet: quiet)
}

func messageID(_ message: InboundMessage) -> String? {
    (try? Message(decoding: message.body))?.messageID
}

/// All RabbitMQ tests run one after another: one of them restarts the server.
@Suite(.serialized, .timeLimit(.minutes(10))) enum RabbitMQIntegration {}

/// Runs `rabbitmqctl` against the test node and requires it to succeed.
func rabbitmqctl(_ arguments: [String]) throws { try TestRabbitMQ.ctl(arguments) }

/// ``rabbitmqctl(_:)`` without holding a task thread (use it everywhere but in a `defer`).
func rabbitmqctl(_ arguments: [String]) async throws { try await TestRabbitMQ.control(arguments) }
