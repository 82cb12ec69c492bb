import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import InMemoryTransport
import RoutingRules
import Synchronization
import TestSupport
import Testing

/// `RouterConfiguration.keepsInputOrder` (on with `--single-active-consumer`): copies go out in
/// input order although confirms are awaited many at once and come back in any order.
@Suite(.timeLimit(.minutes(10))) struct InputOrderTests {
    /// Takes publishes in call order (as the RabbitMQ publisher's thread sends them) and
    /// confirms each after a random pause, so confirms come back out of order.
    final class PipelinedSink: OutboundSink {
        let sent = Mutex<[OutboundMessage]>([])

        func run() async {}
        func beginGracefulShutdown() {}
        var health: TransportHealth { TransportHealth(state: .connected, endpoint: "pipelined") }

        func publish(_ message: OutboundMessage) async -> PublishResult {
            await publish(message, accepted: {})
        }

        func publish(_ message: OutboundMessage, accepted: @escaping @Sendable () -> Void) async -> PublishResult {
            sent.withLock { $0.append(message) }
            accepted()
            try? await pace(.microseconds(Int.random(in: 0...2_000)))
            return .confirmed
        }

        /// The number in each published body's `"message_id":"mN"`, in the order sent.
        var sentNumbers: [Int] {
            sent.withLock { $0 }.compactMap { message in
                let text = String(decoding: message.body, as: UTF8.self)
                guard let start = text.range(of: #""message_id":"m"#) else { return nil }
                return Int(text[start.upperBound...].prefix { $0.isNumber })
            }
        }
    }

    func route(_ bodies: [String], rules: RuleSet, inOrder: Bool) async -> PipelinedSink {
        let queues = InMemoryQueues()
        for body in bodies { queues.enqueue(Array(body.utf8), to: "broker_input_queue") }
        let sink = PipelinedSink()
        var configuration = RouterConfiguration()
        configuration.keepsInputOrder = inOrder
        let router = MessageRouter(
            rules: RuleSetHolder(rules), registry: threeOnlineAgents(), output: sink, configuration: configuration)
        await drain(queues, router, expected: bodies.count, prefetch: 256)
        return sink
    }

    /// Direct messages, dead letters (an unknown type) and drops mixed: every publish, routed
    /// copy or dead letter, in input order.
    @Test func publishesFollowInputOrder() async throws {
        let bodies = (0..<3_000).map { i in
            let type = i % 7 == 3 ? "NOPE" : "TEXT"
            let receiver = i % 11 == 5 ? "" : #","receiver_id":"agent_b""#
            return #"{"message_type":"\#(type)","sender_id":"agent_a"\#(receiver),"message_id":"m\#(i)"}"#
        }
        let sink = await route(bodies, rules: defaultRules, inOrder: true)
        let numbers = sink.sentNumbers
        #expect(numbers.count == bodies.count)
        #expect(
            numbers == numbers.sorted(),
            "out of order at \(zip(numbers, numbers.dropFirst()).first { $0 > $1 }.map { "\($0)" } ?? "-")")
    }

    /// A broadcast's copies (one per agent) all go out before the next message's.
    @Test func everyCopyOfABroadcastPrecedesTheNextMessage() async throws {
        let rules = try inlineRules(
            """
            version: 1
            routes:
              - name: everyone
                when: { message.message_type: SYSTEM }
                select: { count: all }
                output: "agent_queue_{agent.agent_id}"
            """)
        let bodies = (0..<1_000).map { #"{"message_type":"SYSTEM","sender_id":"x","message_id":"m\#($0)"}"# }
        let sink = await route(bodies, rules: rules, inOrder: true)
        let numbers = sink.sentNumbers
        #expect(numbers.count == 3 * bodies.count)
        #expect(numbers == numbers.sorted())
    }
}
