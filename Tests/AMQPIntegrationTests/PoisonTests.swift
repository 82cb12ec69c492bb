import AMQPTestSupport
import AMQPTransport
import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import RoutingRules
import TestSupport
import Testing

/// One message that can never be published must not stall the broker (issue: "No single
/// message, peer or event can stall, crash or exhaust the broker").
extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct PoisonTests {
        /// Routes `bodies` with `rules` and returns the router once all are settled (or 60 s passed).
        func route(
            _ queues: TestQueues, rules: RuleSet, bodies: [[UInt8]], registry: AgentRegistry, expecting: Int? = nil
        ) async throws -> (MessageRouter, AMQPPublisher) {
            let expected = expecting ?? bodies.count
            if !bodies.isEmpty { try await fill(queues.input, with: bodies) }
            let consumer = AMQPConsumer(configuration: rabbit, queue: queues.input, prefetch: 64)
            let publisher = AMQPPublisher(configuration: rabbit, declareQueues: [queues.output, queues.deadLetter])
            let router = MessageRouter(rules: RuleSetHolder(rules), registry: registry, output: publisher)
            let task = Task { await router.run(consumer) }
            try? await eventually("all \(expected) are settled", timeout: .seconds(60)) {
                router.statistics.settled >= expected
            }
            consumer.beginGracefulShutdown()
            task.cancel()
            await task.value
            return (router, publisher)
        }

        @Test func aReasonTooLargeForAFrameIsBoundedAndTheOriginalDeadLettered() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let huge = String(repeating: "X", count: 200_000)
            let poison = #"{"message_type":"\#(huge)","message_id":"poison"}"#
            let bodies = [Array(poison.utf8)] + (0..<100).map { text("ok\($0)", from: "agent_a") }
            let (router, publisher) = try await route(
                queues, rules: try queues.defaultRules(), bodies: bodies, registry: threeOnlineAgents())
            defer { publisher.beginGracefulShutdown() }
            #expect(router.statistics.settled == 101, "everything settled, nothing stuck")
            #expect(router.statistics.snapshot.requeued == 0, "no reconnect-and-requeue loop")
            let dead = await collect(queues.deadLetter)
            #expect(dead.count == 1)
            let unchanged = dead.first?.body == Array(poison.utf8)
            #expect(unchanged, "the original, unchanged")
            let reason = dead.first?.headers[MessageRouter.Header.reason]?.text ?? ""
            #expect(reason.utf8.count <= 1024 && reason.contains("unknown message_type"), "\(reason.prefix(100))")
            #expect(await collect(queues.output).count == 100)
        }

        @Test func aRoutingKeyLongerThan255BytesIsDeadLetteredAndEveryPublishOfTheBatchSettles() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let text = try String(
                contentsOf: repositoryRoot.appendingPathComponent("rules/examples/per-agent-queues.yaml"),
                encoding: .utf8
            )
            let rules = try #require(
                RuleSetLoader().load([
                    RuleSource(
                        name: "per-agent.yaml", text: text + "defaults: { dead_letter: \(queues.deadLetter) }\n")
                ]).ruleSet)
            let longID = "agent_" + String(repeating: "l", count: 300)
            let registry = AgentRegistry()
            registry.apply(
                AgentStatusUpdate(agents: [AgentStatusRecord(agentID: longID, isOnline: true)], isFullUpdate: true))
            registry.sync.markSynced()
            let bodies = (0..<40).map { i in
                Array(#"{"message_type":"TEXT","sender_id":"web_1","message_id":"k\#(i)"}"#.utf8)
            }
            let (router, publisher) = try await route(queues, rules: rules, bodies: bodies, registry: registry)
            defer { publisher.beginGracefulShutdown() }
            #expect(router.statistics.settled == 40, "every publish got an outcome")
            #expect(router.statistics.snapshot.requeued == 0)
            let dead = await collect(queues.deadLetter)
            #expect(dead.count == 40)
            #expect(dead.allSatisfy { $0.headers[MessageRouter.Header.reasonCode]?.text == "publish_failed" })
            #expect(
                dead.first?.headers[MessageRouter.Header.reason]?.text?.contains("longer than the 255 bytes") == true,
                "\(dead.first?.headers[MessageRouter.Header.reason]?.text ?? "")")
        }

        @Test func theOriginalsOwnHeadersThatLeaveNoRoomAreLeftOffTheDeadLetter() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            // RabbitMQ takes this (it fits a frame); with the broker's headers added it does not.
            let bulky: Headers = ["x-trace": HeaderValue(String(repeating: "t", count: 130_950))]
            let body = Array(#"{"message_type":"NOPE","message_id":"bulky"}"#.utf8)
            try await fill(queues.input, with: [body], headers: bulky)
            let (router, publisher) = try await route(
                queues, rules: try queues.defaultRules(), bodies: [], registry: threeOnlineAgents(), expecting: 1)
            defer { publisher.beginGracefulShutdown() }
            #expect(router.statistics.snapshot.deadLettered == 1)
            #expect(router.statistics.snapshot.requeued == 0)
            let dead = await collect(queues.deadLetter)
            #expect(dead.count == 1)
            #expect(dead.first?.body == body)
            #expect(dead.first?.headers[MessageRouter.Header.reason]?.text == "unknown message_type 'NOPE'")
            #expect(dead.first?.headers[MessageRouter.Header.droppedHeaders]?.text == "1")
            #expect(dead.first?.headers["x-trace"]?.text == nil)
        }

        @Test func aMissingDeadLetterQueueSlowsRequeuesDownUntilItExists() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            try await fill(queues.input, with: [Array(#"{"message_type":"NOPE","message_id":"m"}"#.utf8)])
            let consumer = AMQPConsumer(configuration: rabbit, queue: queues.input, prefetch: 8)
            // The dead-letter queue of the rules is not declared by anyone yet.
            let publisher = AMQPPublisher(configuration: rabbit, declareQueues: [queues.output])
            defer { publisher.beginGracefulShutdown() }
            // The pauses on a clock of the test's: each attempt is seen before the next one.
            let pauses = TestClock()
            var configuration = RouterConfiguration()
            configuration.pauses = pauses
            let router = MessageRouter(
                rules: RuleSetHolder(try queues.defaultRules()), registry: threeOnlineAgents(), output: publisher,
                configuration: configuration)
            let task = Task { await router.run(consumer) }
            for attempt in 1...3 {
                try await eventually("dead letter attempt \(attempt) failed and its message pauses") {
                    router.deadLetters.failures == attempt && pauses.sleepers == 1
                }
                #expect(router.statistics.snapshot.requeued == attempt - 1, "requeued only after the pause")
                #expect(router.deadLetters.currentFailure?.reason.contains("NO_ROUTE") == true)
                pauses.advance(by: .seconds(3600))
            }
            try await eventually("attempt 4 pauses") { router.deadLetters.failures == 4 && pauses.sleepers == 1 }
            try AMQPAdmin.declareQueues([queues.deadLetter], configuration: rabbit)
            pauses.advance(by: .seconds(3600))
            try await eventually("dead-lettered once the queue exists", timeout: .seconds(15)) {
                router.statistics.snapshot.deadLettered == 1
            }
            #expect(router.deadLetters.currentFailure == nil)
            consumer.beginGracefulShutdown()
            task.cancel()
            await task.value
            #expect(await collect(queues.deadLetter).count == 1)
        }

        /// A queue at its length limit (`reject-publish`) nacks: the broker retries instead of
        /// dead-lettering, and everything arrives once the queue has room again.
        @Test func aFullOutputQueueSlowsTheBrokerDownInsteadOfDeadLettering() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let policy = try await TestRabbitMQ.rejectPublishes(
                to: queues.output, beyond: 5, name: "test-full-\(queues.id)")
            defer { TestRabbitMQ.clearPolicyInBackground(policy) }
            try AMQPAdmin.declareQueues([queues.output], configuration: rabbit)
            let bodies = (0..<20).map { text("full\($0)", from: "agent_a") }
            try await fill(queues.input, with: bodies)
            let consumer = AMQPConsumer(configuration: rabbit, queue: queues.input, prefetch: 64)
            let publisher = AMQPPublisher(configuration: rabbit, declareQueues: [queues.output, queues.deadLetter])
            defer { publisher.beginGracefulShutdown() }
            let router = MessageRouter(
                rules: RuleSetHolder(try queues.defaultRules()), registry: threeOnlineAgents(), output: publisher)
            let task = Task { await router.run(consumer) }
            try await eventually("the full queue refuses copies") { router.statistics.retries > 0 }
            var delivered: [InboundMessage] = []
            try await eventually("all 20 arrive as the queue is emptied", timeout: .seconds(60)) {
                delivered += await collect(queues.output, quiet: .milliseconds(300))
                return delivered.count >= 20
            }
            consumer.beginGracefulShutdown()
            task.cancel()
            await task.value
            #expect(Set(delivered.compactMap(messageID)).count == 20)
            #expect(router.statistics.snapshot.deadLettered == 0, "a full queue is not a reason to dead-letter")
            #expect(await collect(queues.deadLetter).isEmpty)
        }

        /// A copy no queue takes (its queue is missing) is retried for the unroutable window:
        /// a queue that appears within it gets the message, one that never does sends it to the
        /// dead-letter queue.
        @Test func aMissingQueueIsRetriedForAWhileThenDeadLettered() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            let late = "agent_queue_agent_late_\(queues.id)"
            let never = "agent_queue_agent_never_\(queues.id)"
            defer {
                queues.cleanUp()
                try? AMQPAdmin.deleteQueue(late, configuration: rabbit)
            }
            let text = try String(
                contentsOf: repositoryRoot.appendingPathComponent("rules/examples/per-agent-queues.yaml"),
                encoding: .utf8
            )
            let rules = try #require(
                RuleSetLoader().load([
                    RuleSource(name: "per-agent.yaml", text: text + "defaults: { dead_letter: \(queues.deadLetter) }\n")
                ]).ruleSet)
            let registry = AgentRegistry()
            registry.apply(
                AgentStatusUpdate(
                    agents: ["agent_late_\(queues.id)", "agent_never_\(queues.id)"].map {
                        AgentStatusRecord(agentID: $0, isOnline: true)
                    }, isFullUpdate: true))
            registry.sync.markSynced()
            try await fill(
                queues.input,
                with: ["late", "never"].map {
                    Array(
                        #"{"message_type":"TEXT","sender_id":"web_1","receiver_id":"agent_\#($0)_\#(queues.id)"}"#.utf8)
                })
            var configuration = RouterConfiguration()
            configuration.unroutableRetry = .seconds(3)
            let consumer = AMQPConsumer(configuration: rabbit, queue: queues.input, prefetch: 8)
            let publisher = AMQPPublisher(configuration: rabbit, declareQueues: [queues.deadLetter])
            defer { publisher.beginGracefulShutdown() }
            let router = MessageRouter(
                rules: RuleSetHolder(rules), registry: registry, output: publisher, configuration: configuration)
            let task = Task { await router.run(consumer) }
            try await eventually("both are retried") { router.statistics.retries >= 2 }
            try AMQPAdmin.declareQueues([late], configuration: rabbit)
            try await eventually("both settled", timeout: .seconds(20)) { router.statistics.settled == 2 }
            consumer.beginGracefulShutdown()
            task.cancel()
            await task.value
            #expect(router.statistics.snapshot.published == 1)
            #expect(try AMQPAdmin.messageCount(late, configuration: rabbit) == 1)
            let dead = await collect(queues.deadLetter)
            #expect(dead.count == 1)
            #expect(dead.first?.headers[MessageRouter.Header.reason]?.text?.contains("NO_ROUTE") == true)
            #expect(try !AMQPAdmin.queueExists(never, configuration: rabbit))
        }
    }
}
