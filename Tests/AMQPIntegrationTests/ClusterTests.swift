import AMQPTestSupport
import AMQPTransport
import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import RoutingRules
import Synchronization
import TestSupport
import Testing

/// The broker on a real three-node RabbitMQ cluster (scripts/rabbitmq-cluster.sh): quorum queues,
/// a node killed under load, connections moving to the nodes that remain.
extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct ClusterTests {
        let quorum: AMQPConfiguration = {
            var configuration = TestCluster.configuration
            configuration.queues = QueueSettings(kind: .quorum)
            // RabbitMQ 3.10 can leave publishes to a quorum queue unconfirmed after a leader
            // change: the deadline gives such a connection up sooner than the default 30 s.
            configuration.confirmTimeout = .seconds(5)
            return configuration
        }()

        func cleanUp(_ queues: TestQueues) {
            for queue in [queues.input, queues.output, queues.deadLetter] {
                try? AMQPAdmin.deleteQueue(queue, configuration: quorum.aimed(at: 1))
            }
        }

        /// 3,000 messages through quorum queues; the node the consumer and publisher use (node 1,
        /// also the queues' leader) is SIGKILLed mid-run. Both move to another node; every message
        /// ends in the output or the dead-letter queue (duplicates are counted, not lost).
        @Test
        func killingTheNodeInUseLosesNothing() async throws {
            try await TestCluster.requireRunning()
            let queues = TestQueues()
            defer { cleanUp(queues) }
            let consumer = AMQPConsumer(configuration: quorum, queue: queues.input, prefetch: 128)
            let publisher = AMQPPublisher(configuration: quorum, declareQueues: [queues.output, queues.deadLetter])
            #expect(consumer.health.endpoint.contains(":\(quorum.port)/"), "starts on node 1")
            let router = MessageRouter(
                rules: RuleSetHolder(try queues.defaultRules()), registry: threeOnlineAgents(), output: publisher)
            let total = 3_000
            let bodies = (0..<total).map {
                Array(#"{"message_type":"TEXT","sender_id":"agent_a","message_id":"c\#($0)"}"#.utf8)
            }
            let routing = Task { await router.run(consumer) }
            try await eventually("the input is declared", timeout: .seconds(60)) {
                (try? AMQPAdmin.queueExists(queues.input, configuration: quorum.aimed(at: 1))) == true
            }
            try await TestRabbitMQ.publish(bodies, to: queues.input, configuration: quorum.aimed(at: 1))
            try await eventually("routing is under way", timeout: .seconds(60)) { router.statistics.settled >= 300 }
            try await TestCluster.script(["kill-node", "1"])
            let settled: (any Error)?
            do {
                try await eventually("every message is settled", timeout: .seconds(120)) {
                    router.statistics.settled >= total
                }
                settled = nil
            } catch {
                settled = error
                // What the cluster thinks, for whoever reads the failure.
                let state = try? await TestCluster.script([
                    "ctl", "3", "list_queues", "-q", "name", "type", "leader", "members", "online", "consumers",
                    "messages_ready", "messages_unacknowledged",
                ])
                print(
                    "cluster node kill: \(router.statistics.settled) of \(total) settled (\(router.statistics.snapshot), \(router.statistics.retries) retries, \(router.statistics.inFlight) in flight); bytes unsettled \(consumer.bytesUnsettled), consumer \(consumer.health), publisher \(publisher.health); queues: \(state ?? "?")"
                )
            }
            // Node 1 back before anything else uses the cluster (it rejoins by itself).
            try await TestCluster.script(["restart-node", "1"])
            if let settled {
                consumer.beginGracefulShutdown()
                publisher.beginGracefulShutdown()
                throw settled
            }
            #expect(!consumer.health.endpoint.contains(":\(quorum.port)/"), "moved off node 1: \(consumer.health)")
            #expect(!publisher.health.endpoint.contains(":\(quorum.port)/"), "moved off node 1: \(publisher.health)")
            consumer.beginGracefulShutdown()
            await routing.value
            publisher.beginGracefulShutdown()
            let output = await TestRabbitMQ.drain(queues.output, configuration: quorum.aimed(at: 1))
            let dead = await TestRabbitMQ.drain(queues.deadLetter, configuration: quorum.aimed(at: 1))
            let ids = (output + dead).compactMap(messageID)
            let missing = Set(bodies.indices.map { "c\($0)" }).subtracting(ids)
            #expect(missing.isEmpty, "lost \(missing.count): \(missing.sorted().prefix(10))")
            let duplicates = ids.count - Set(ids).count
            print("cluster node kill: \(total) messages, \(missing.count) lost, \(duplicates) duplicates")
        }

        /// A node that stops answering (SIGSTOP: its sockets stay open) with a publish in flight:
        /// the confirm deadline gives the connection up, the publish ends `unknown` (the router
        /// redelivers its input) and the publisher moves on to another node. It used to wait for
        /// the missed heartbeats (a minute here), and for ever where RabbitMQ 3.10 drops a quorum
        /// queue's publish after a leader change (the stall of the node-kill test).
        @Test func aPublishLeftUnconfirmedGivesTheConnectionUp() async throws {
            try await TestCluster.requireRunning()
            var configuration = TestCluster.configuration.aimed(at: 2)
            configuration.confirmTimeout = .seconds(2)
            configuration.heartbeat = 30
            let frozenPort = configuration.port
            let queue = "test_\(TestQueues().id)_frozen"
            try AMQPAdmin.declareQueues([queue], configuration: configuration)
            defer { try? AMQPAdmin.deleteQueue(queue, configuration: configuration) }
            let publisher = AMQPPublisher(configuration: configuration)
            defer { publisher.beginGracefulShutdown() }
            let message = OutboundMessage(body: Array("frozen".utf8), target: .queue(queue))
            #expect(await publisher.publish(message) == .confirmed)
            #expect(publisher.health.endpoint.contains(":\(frozenPort)/"), "starts on node 3")

            try await TestCluster.script(["freeze-node", "3"])
            let result = Mutex<PublishResult?>(nil)
            let publishing = Task {
                let outcome = await publisher.publish(message)
                result.withLock { $0 = outcome }
            }
            let answered: (any Error)?
            do {
                try await eventually("the publish ends", timeout: .seconds(20)) { result.withLock { $0 } != nil }
                answered = nil
            } catch {
                answered = error
            }
            try await TestCluster.script(["thaw-node", "3"])
            if let answered { throw answered }
            await publishing.value
            let outcome = try #require(result.withLock { $0 })
            guard case .unknown(let reason) = outcome else {
                Issue.record("a publish no node confirms must end unknown, not \(outcome)")
                return
            }
            #expect(reason.contains("no confirm within"), "\(reason)")
            #expect(!publisher.health.endpoint.contains(":\(frozenPort)/"), "moved off node 3: \(publisher.health)")
        }
    }
}
