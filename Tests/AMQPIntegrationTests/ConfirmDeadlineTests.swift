import AMQPTestSupport
import AMQPTransport
import BrokerTransports
import Foundation
import TestSupport
import Testing

/// The publisher's confirm deadline (`--confirm-timeout`) against a real RabbitMQ node; the
/// node that stops answering is in ``RabbitMQIntegration/ClusterTests``.
extension RabbitMQIntegration {
    @Suite(.timeLimit(.minutes(10))) struct ConfirmDeadlineTests {
        /// A connection on which RabbitMQ refuses every publish for the confirm timeout is given
        /// up and made again (after a quorum queue's leader change, RabbitMQ 3.10 can nack a
        /// channel's publishes for good while a new connection's go through); once the queue takes
        /// messages again, a publish is confirmed.
        @Test func aConnectionThatOnlyGetsRefusalsIsMadeAgain() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let policy = try await TestRabbitMQ.rejectPublishes(
                to: queues.output, beyond: 0, name: "test-refuse-\(queues.id)")
            var cleared = false
            defer { if !cleared { TestRabbitMQ.clearPolicyInBackground(policy) } }
            var configuration = rabbit
            configuration.confirmTimeout = .seconds(1)
            let publisher = AMQPPublisher(configuration: configuration, declareQueues: [queues.output])
            defer { publisher.beginGracefulShutdown() }
            let message = OutboundMessage(body: Array("refused".utf8), target: .queue(queues.output))
            var refusals = 0
            try await eventually("the refused connection is made again", timeout: .seconds(20)) {
                if case .refused = await publisher.publish(message) { refusals += 1 }
                return publisher.connectionsLost > 0
            }
            #expect(refusals > 0, "the full queue refused publishes")
            try await TestRabbitMQ.control(["clear_policy", policy])
            cleared = true
            try await eventually("a publish is confirmed again", timeout: .seconds(20)) {
                await publisher.publish(message) == .confirmed
            }
        }

        /// Steady refusals with confirms among them (one full queue beside one that takes
        /// messages) are not a broken connection: it is kept.
        @Test func refusalsBesideConfirmsKeepTheConnection() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let policy = try await TestRabbitMQ.rejectPublishes(
                to: queues.output, beyond: 0, name: "test-refuse-\(queues.id)")
            defer { TestRabbitMQ.clearPolicyInBackground(policy) }
            var configuration = rabbit
            configuration.confirmTimeout = .seconds(1)
            let publisher = AMQPPublisher(configuration: configuration, declareQueues: [queues.output, queues.input])
            defer { publisher.beginGracefulShutdown() }
            let full = OutboundMessage(body: Array("refused".utf8), target: .queue(queues.output))
            let open = OutboundMessage(body: Array("taken".utf8), target: .queue(queues.input))
            let until = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < until {
                guard case .refused = await publisher.publish(full) else {
                    Issue.record("the full queue must refuse")
                    return
                }
                #expect(await publisher.publish(open) == .confirmed)
            }
            #expect(publisher.connectionsLost == 0)
        }
    }
}
