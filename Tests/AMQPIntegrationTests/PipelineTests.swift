import AMQPTransport
import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import RoutingRules
import TestSupport
import Testing

/// The router on real RabbitMQ: at-least-once, nothing lost, poison dead-lettered.
extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct PipelineTests {
        /// Runs a router on `queues.input` until `expected` messages are settled.
        func route(
            _ queues: TestQueues, rules: RuleSet, expected: Int, prefetch: UInt16 = 256,
            configuration: RouterConfiguration = RouterConfiguration()
        ) async -> MessageRouter {
            let consumer = AMQPConsumer(configuration: rabbit, queue: queues.input, prefetch: prefetch)
            let publisher = AMQPPublisher(configuration: rabbit, declareQueues: [queues.output, queues.deadLetter])
            let router = MessageRouter(
                rules: RuleSetHolder(rules), registry: threeOnlineAgents(), output: publisher,
                configuration: configuration)
            let task = Task { await router.run(consumer) }
            try? await eventually("\(expected) settled", timeout: .seconds(120)) {
                router.statistics.settled >= expected
            }
            consumer.beginGracefulShutdown()
            await task.value
            publisher.beginGracefulShutdown()
            return router
        }

        @Test func tenThousandMessagesEachAppearExactlyOnce() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let bodies = (0..<10_000).map { i in
                i % 500 == 0
                    ? Array("{broken \(i)".utf8)
                    : Array(
                        #"{"message_type":"TEXT","sender_id":"agent_a","message_id":"m\#(i)","text_payload":"hi"}"#.utf8
                    )
            }
            try await fill(queues.input, with: bodies)
            let router = await route(queues, rules: try queues.defaultRules(), expected: bodies.count)
            #expect(router.statistics.snapshot.requeued == 0)
            let output = await collect(queues.output)
            let dead = await collect(queues.deadLetter)
            let ids = output.compactMap(messageID)
            #expect(output.count == 9_980)
            #expect(Set(ids).count == 9_980)
            #expect(dead.count == 20)
            #expect(dead.allSatisfy { $0.headers[MessageRouter.Header.reasonCode]?.text == "invalid_json" })
            #expect(try AMQPAdmin.messageCount(queues.input, configuration: rabbit) == 0)
            #expect(output.allSatisfy { $0.hops == 1 && $0.headers.isEmpty })
        }

        @Test func everyPoisonClassIsDeadLetteredWithItsReason() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let exchange = "test_\(queues.id)_exchange"
            try AMQPAdmin.bind(queue: queues.output, exchange: exchange, routingKey: "bound", configuration: rabbit)
            let base = try String(
                contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8
            )
            .replacingOccurrences(of: "output: server_input_queue", with: "output: \(queues.output)")
            .replacingOccurrences(of: "dead_letter: broker_dead_letter", with: "dead_letter: \(queues.deadLetter)")
            .replacingOccurrences(
                of: "routes:\n",
                with: """
                    routes:
                      - name: to-exchange
                        when: { message.message_type: AUDIT }
                        deliver: as_is
                        output: { exchange: \(exchange), routing_key: "{message.key}" }
                      - name: to-missing-exchange
                        when: { message.message_type: LOST }
                        deliver: as_is
                        output: { exchange: no_such_exchange_\(queues.id), routing_key: x }

                    """)
            let rules = try #require(RuleSetLoader().load([RuleSource(name: "poison.yaml", text: base)]).ruleSet)
            let cases: [(String, String)] = [
                ("{not json", "invalid_json"), ("[1,2,3]", "not_an_object"),
                (
                    #"{"message_type":"TEXT","text_payload":""# + String(repeating: "x", count: 1_100_000) + #""}"#,
                    "too_large"
                ),
                (#"{"message_type":"FOO"}"#, "no_route"), (#"{"message_id":"nt"}"#, "rule"),
                (#"{"message_type":"AUDIT","key":"unbound"}"#, "publish_failed"),
                (#"{"message_type":"LOST"}"#, "publish_failed"),
            ]
            try await fill(queues.input, with: cases.map { Array($0.0.utf8) })
            try await fill(
                queues.input, with: [Array(#"{"message_type":"TEXT","message_id":"loop"}"#.utf8)],
                headers: [MessageRouter.Header.hops: "10"])
            var limited = RouterConfiguration()
            limited.maximumMessageSize = 1 << 20
            let router = await route(
                queues, rules: rules, expected: cases.count + 1, prefetch: 1, configuration: limited)
            #expect(router.statistics.settled == cases.count + 1)
            let dead = await collect(queues.deadLetter)
            // Inputs were published concurrently, so compare by content, not order.
            let expected =
                cases.map { ($0.1, $0.0) } + [("routing_cycle", #"{"message_type":"TEXT","message_id":"loop"}"#)]
            let actual = dead.map {
                ($0.headers[MessageRouter.Header.reasonCode]?.text ?? "?", String(decoding: $0.body, as: UTF8.self))
            }
            #expect(actual.count == expected.count)
            for (code, body) in expected {
                #expect(
                    actual.contains { $0.0 == code && $0.1 == body },
                    "missing dead letter \(code) for \(body.prefix(60))")
            }
            #expect(dead.allSatisfy { $0.headers[MessageRouter.Header.originalQueue]?.text == queues.input })
            let reasons = dead.compactMap { $0.headers[MessageRouter.Header.reason]?.text }
            #expect(reasons.contains { $0.contains("NO_ROUTE") })
            #expect(reasons.contains { $0.contains("no exchange 'no_such_exchange_\(queues.id)'") })
            #expect(await collect(queues.output).isEmpty)
        }

        @Test func aMessageOfMoreThanOneMebibyteIsRoutedByDefault() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let text = String(repeating: "x", count: 1_100_000)
            let body = #"{"message_type":"TEXT","sender_id":"agent_a","message_id":"big","text_payload":"\#(text)"}"#
            try await fill(queues.input, with: [Array(body.utf8)])
            let router = await route(queues, rules: try queues.defaultRules(), expected: 1)
            #expect(router.statistics.snapshot.published == 1)
            let output = await collect(queues.output)
            #expect(output.count == 1)
            #expect(output.first.flatMap(messageID) == "big")
            #expect((try? Message(decoding: output.first?.body ?? []))?[string: "text_payload"]?.count == 1_100_000)
            #expect(await collect(queues.deadLetter).isEmpty)
        }
    }
}
