import AMQPTestSupport
import AMQPTransport
import BrokerCore
import BrokerTransports
import Foundation
import Synchronization
import TestSupport
import Testing

/// Operational events on the RabbitMQ side that the broker must notice (issue: "No single
/// message, peer or event can stall, crash or exhaust the broker").
extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct RabbitMQEventTests {
        @Test func aDeletedAndRecreatedInputQueueIsConsumedAgain() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let consumer = AMQPConsumer(configuration: rabbit, queue: queues.input, prefetch: 16)
            defer { consumer.beginGracefulShutdown() }
            try await eventually("consuming") { consumer.isConnected }
            try await pace(.milliseconds(200))  // consuming for a moment before the queue goes
            try AMQPAdmin.deleteQueue(queues.input, configuration: rabbit)
            try await eventually("the server's cancel is noticed") { consumer.serverCancellations == 1 }
            try await fill(queues.input, with: (0..<10).map { Array(#"{"message_id":"after\#($0)"}"#.utf8) })
            var received = 0
            let reader = Task {
                for await message in consumer.messages {
                    message.settlement.ack()
                    received += 1
                    if received == 10 { break }
                }
                return received
            }
            try await eventually("the 10 published after the deletion arrive", timeout: .seconds(10)) {
                (try? AMQPAdmin.messageCount(queues.input, configuration: rabbit)) == 0
            }
            consumer.beginGracefulShutdown()
            #expect(await reader.value == 10)
        }

        @Test func aMemoryAlarmShowsAsBlockedAndPublishesGoThroughAfterIt() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let publisher = AMQPPublisher(configuration: rabbit, declareQueues: [queues.output])
            defer { publisher.beginGracefulShutdown() }
            try await eventually("connected") { publisher.isConnected }
            #expect(await publisher.publish(OutboundMessage(body: [1], target: .queue(queues.output))) == .confirmed)
            try await TestRabbitMQ.control(["set_vm_memory_high_watermark", "0.0000001"])
            var restored = false
            defer { if !restored { try? TestRabbitMQ.ctl(["set_vm_memory_high_watermark", "0.4"]) } }
            let held = Task { await publisher.publish(OutboundMessage(body: [2], target: .queue(queues.output))) }
            try await eventually("the output reports the alarm", timeout: .seconds(15)) {
                publisher.health.state == .blocked
            }
            #expect(publisher.health.detail?.contains("RabbitMQ blocks publishing") == true)
            try await TestRabbitMQ.control(["set_vm_memory_high_watermark", "0.4"])
            restored = true
            #expect(await held.value == .confirmed, "held, not lost, and confirmed once the alarm clears")
            try await eventually("unblocked") { publisher.health.state == .connected }
            #expect(try AMQPAdmin.messageCount(queues.output, configuration: rabbit) == 2)
        }
    }
}

extension RabbitMQIntegration.RabbitMQEventTests {
    /// Prefetch bounds messages, the byte budget bounds memory: 30 messages of 1 MB with a budget
    /// of what four of them may take routed (body, parsed form and copies) are never more than 4
    /// unsettled (plus one) at a time, and all arrive.
    @Test func theByteBudgetBoundsWhatIsHeldUnsettled() async throws {
        try requireRabbitMQ()
        let queues = TestQueues()
        defer { queues.cleanUp() }
        let megabyte = 1 << 20
        let cost = MessageCost.reservation(bodySize: megabyte)
        try await fill(queues.input, with: (0..<30).map { _ in [UInt8](repeating: 0x20, count: megabyte) })
        let consumer = AMQPConsumer(
            configuration: rabbit, queue: queues.input, prefetch: 64, maximumUnsettledBytes: 4 * cost)
        defer { consumer.beginGracefulShutdown() }
        let held = Mutex<[InboundMessage]>([])
        let reader = Task {
            for await message in consumer.messages { held.withLock { $0.append(message) } }
        }
        try await eventually("the first four arrive") { held.withLock { $0.count } >= 4 }
        try await remains("at most five held (prefetch 64 would have taken all 30)", for: .seconds(1)) {
            held.withLock { $0.count } <= 5 && consumer.bytesUnsettled <= 5 * cost
        }
        var settled = 0
        try await eventually("all 30 arrive as they are settled", timeout: .seconds(30)) {
            for message in held.withLock({ h in
                defer { h.removeAll() }; return h
            }) {
                message.settlement.ack()
                settled += 1
            }
            return settled == 30
        }
        consumer.beginGracefulShutdown()
        await reader.value
    }
}
