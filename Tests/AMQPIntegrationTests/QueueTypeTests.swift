import AMQPTestSupport
import AMQPTransport
import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import RoutingRules
import TestSupport
import Testing

/// `--queue-type`, `--delivery-limit`, `--single-active-consumer` on real RabbitMQ, and a queue
/// that exists with other settings explained rather than retried in silence.
extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct QueueTypeTests {
        /// `name type arguments` of this test's queues, as rabbitmqctl lists them.
        func listed(_ queues: TestQueues) throws -> [String: String] {
            let (status, output) = try runCommandBlocking(
                "/bin/bash",
                [
                    repositoryRoot.appendingPathComponent("scripts/rabbitmq.sh").path, "ctl", "list_queues", "-q",
                    "-p", rabbit.virtualHost, "name", "type", "arguments",
                ])
            try #require(status == 0, "\(output)")
            var found: [String: String] = [:]
            for line in output.split(separator: "\n") where line.contains(queues.id) {
                let fields = line.split(separator: "\t", maxSplits: 1)
                found[String(fields[0])] = fields.count > 1 ? String(fields[1]) : ""
            }
            return found
        }

        func configuration(_ settings: QueueSettings) -> AMQPConfiguration {
            var configuration = rabbit
            configuration.queues = settings
            return configuration
        }

        @Test func quorumQueuesAreDeclaredAndRouted() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let quorum = configuration(QueueSettings(kind: .quorum))
            let consumer = AMQPConsumer(configuration: quorum, queue: queues.input, prefetch: 64)
            let publisher = AMQPPublisher(configuration: quorum, declareQueues: [queues.output, queues.deadLetter])
            let router = MessageRouter(
                rules: RuleSetHolder(try queues.defaultRules()), registry: threeOnlineAgents(), output: publisher)
            let task = Task { await router.run(consumer) }
            try await eventually("the input is declared", timeout: .seconds(60)) {
                try listed(queues)[queues.input] != nil
            }
            let bodies = (0..<200).map {
                Array(#"{"message_type":"TEXT","sender_id":"agent_a","message_id":"q\#($0)"}"#.utf8)
            }
            try await TestRabbitMQ.publish(bodies, to: queues.input, configuration: quorum)
            try await eventually("all are routed", timeout: .seconds(60)) { router.statistics.settled == 200 }
            consumer.beginGracefulShutdown()
            await task.value
            publisher.beginGracefulShutdown()
            let types = try listed(queues)
            for queue in [queues.input, queues.output, queues.deadLetter] {
                #expect(types[queue]?.hasPrefix("quorum") == true, "\(queue): \(types)")
            }
            #expect(
                Set((await TestRabbitMQ.drain(queues.output, configuration: quorum)).compactMap(messageID)).count == 200
            )
        }

        @Test func theInputQueueCarriesTheDeliveryLimitAndSingleActiveConsumer() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let settings = configuration(QueueSettings(kind: .quorum, deliveryLimit: 5, singleActiveConsumer: true))
            let consumer = AMQPConsumer(configuration: settings, queue: queues.input, prefetch: 8)
            let publisher = AMQPPublisher(configuration: settings, declareQueues: [queues.output])
            try await eventually("both queues are declared") { try listed(queues).count == 2 }
            consumer.beginGracefulShutdown()
            publisher.beginGracefulShutdown()
            let found = try listed(queues)
            let input = try #require(found[queues.input])
            #expect(input.contains("x-delivery-limit") && input.contains("x-single-active-consumer"), "\(input)")
            let output = try #require(found[queues.output])
            #expect(!output.contains("x-delivery-limit") && !output.contains("x-single-active-consumer"), "\(output)")
        }

        /// The input exists as a classic queue; the broker is told quorum: the consumer says which
        /// argument differs and what to do, in its health (and so in /readyz) and its log.
        @Test func aQueueDeclaredOtherwiseIsExplained() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            try AMQPAdmin.declareQueues([queues.input], configuration: rabbit)
            let consumer = AMQPConsumer(
                configuration: configuration(QueueSettings(kind: .quorum)), queue: queues.input, prefetch: 8)
            defer { consumer.beginGracefulShutdown() }
            try await eventually("the mismatch is reported") {
                consumer.health.detail?.contains("x-queue-type") == true
            }
            let detail = try #require(consumer.health.detail)
            #expect(
                detail.contains(
                    "queue '\(queues.input)' (vhost '\(rabbit.virtualHost)') exists with other settings than the broker declares: x-queue-type is not set on the queue, 'quorum' in the declaration. Either start the broker with --queue-type classic"
                ), "\(detail)")
            #expect(detail.contains("rabbitmqctl delete_queue \(queues.input)"))
            #expect(detail.contains("PRECONDITION_FAILED"))
        }
    }
}

extension RabbitMQIntegration.QueueTypeTests {
    /// With several nodes listed, a consumer and a publisher whose first node refuses move on to
    /// the next, and say which node they use.
    @Test func aListOfNodesMovesOnToOneThatAnswers() async throws {
        try requireRabbitMQ()
        let queues = TestQueues()
        defer { queues.cleanUp() }
        let refusing = rabbit.url.replacingOccurrences(of: "@\(rabbit.host):\(rabbit.port)/", with: "@127.0.0.1:1/")
        let cluster = try AMQPConfiguration(url: refusing + "," + rabbit.url)
        #expect(cluster.nodes.count == 2)
        let consumer = AMQPConsumer(configuration: cluster, queue: queues.input, prefetch: 8)
        let publisher = AMQPPublisher(configuration: cluster, declareQueues: [queues.output])
        defer {
            consumer.beginGracefulShutdown()
            publisher.beginGracefulShutdown()
        }
        try await eventually("both connected") { consumer.health.isUp && publisher.health.isUp }
        #expect(consumer.health.endpoint.contains("127.0.0.1:\(rabbit.port)/"), "\(consumer.health)")
        #expect(publisher.health.endpoint.contains("127.0.0.1:\(rabbit.port)/"), "\(publisher.health)")
    }
}
