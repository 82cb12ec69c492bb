import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import InMemoryTransport
import RoutingRules
import Synchronization
import TestSupport
import Testing

@Suite(.timeLimit(.minutes(10))) struct CycleDetectionTests {
    @Test func theContentHashIgnoresHowTheJSONIsWritten() throws {
        let compact = try JSONParser.parse(#"{"a":1,"b":"é","c":[true,null,2.0]}"#)
        let python = try JSONParser.parse(#"{"b": "\u00e9", "a": 1.0, "c": [true, null, 2]}"#)
        #expect(compact.contentHash == python.contentHash)
        let different = try JSONParser.parse(#"{"a":1,"b":"é","c":[null,true,2.0]}"#)
        #expect(compact.contentHash != different.contentHash, "array order matters")
        let moved = try JSONParser.parse(#"{"a":{"b":"é"},"c":[true,null,2.0]}"#)
        #expect(compact.contentHash != moved.contentHash)
    }

    @Test func theDetectorCountsRoundTripsWithinItsWindowOnly() {
        let clock = ManualSeconds()
        let detector = CycleDetector(maximumRoundTrips: 3, window: .seconds(1), slots: 1 << 4) { clock.now }
        #expect(detector.roundTrips(of: 42) == 0)
        detector.record(42, roundTrips: 2)
        #expect(detector.roundTrips(of: 42) == 2)
        #expect(detector.roundTrips(of: 42 | 1 << 50) == 0, "another hash in the same slot is not a match")
        #expect(detector.memoryBytes == 16 * 8)
        clock.advance()
        #expect(detector.roundTrips(of: 42) == 2, "within the window: remembered")
        clock.advance()
        #expect(detector.roundTrips(of: 42) == 0, "older than the window: forgotten")
    }

    /// Publishes what the router sends to the server back to its input the way the server does:
    /// `pending` messages only, re-serialised, with fresh properties.
    func serverLoop(_ queues: InMemoryQueues, rounds: Int) {
        for message in queues.drain("server_input_queue") {
            guard let decoded = try? Message(decoding: message.body) else { continue }
            if decoded[string: "routing_status"] == "pending" {
                let spaced = decoded.jsonText.replacingOccurrences(of: "\",\"", with: "\", \"")
                queues.enqueue(Array(spaced.utf8), to: "broker_input_queue")
            }
        }
    }

    @Test func aPendingErrorForwardedUnchangedIsDeadLetteredAfterTenRoundTrips() async throws {
        // Rules that forward a pending ERROR unchanged (the default rules without error-pending).
        let rules = try inlineRules(
            """
            version: 1
            routes:
              - name: error-to-server
                when: { message.message_type: ERROR }
                set_if_absent: { routing_status: error }
                deliver: as_is
            """, name: "loop.yaml")
        let queues = InMemoryQueues()
        let router = MessageRouter(rules: RuleSetHolder(rules), registry: threeOnlineAgents(), output: queues.sink)
        let consumer = queues.consumer(of: "broker_input_queue", prefetch: 8)
        let routing = Task { await router.run(consumer) }
        queues.enqueue(
            Array(#"{"message_type":"ERROR","message_id":"e1","routing_status":"pending"}"#.utf8),
            to: "broker_input_queue")
        var rounds = 0
        try await eventually("the cycle is dead-lettered", timeout: .seconds(60), every: .milliseconds(5)) {
            if queues.contents(of: "server_input_queue").count == 1 {
                rounds += 1
                serverLoop(queues, rounds: rounds)
            }
            return !queues.contents(of: "broker_dead_letter").isEmpty
        }
        consumer.beginGracefulShutdown()
        await routing.value
        #expect(rounds == 10, "published ten times, then stopped")
        let dead = queues.drain("broker_dead_letter")
        #expect(dead.count == 1)
        #expect(dead.first?.headers[MessageRouter.Header.reasonCode]?.text == "routing_cycle")
        #expect(router.statistics.snapshot.published == 10)
    }

    @Test func aMessageTheServerBuildsItselfIsNotARoundTrip() async throws {
        let queues = InMemoryQueues()
        let router = MessageRouter(
            rules: RuleSetHolder(defaultRules), registry: threeOnlineAgents(), output: queues.sink)
        // The same ERROR arriving twice is still routed twice: only bodies the broker published count.
        for _ in 0..<12 {
            queues.enqueue(
                Array(#"{"message_type":"ERROR","sender_id":"Server","receiver_id":"agent_a","message_id":"x"}"#.utf8),
                to: "broker_input_queue")
        }
        await drain(queues, router, expected: 12)
        #expect(queues.drain("server_input_queue").count == 12)
        #expect(queues.contents(of: "broker_dead_letter").isEmpty)
    }
}

/// Seconds that pass only when the test says so.
final class ManualSeconds: Sendable {
    private let seconds = Atomic<Int>(1_000)
    var now: Int { seconds.load(ordering: .relaxed) }
    func advance(by count: Int = 1) { seconds.add(count, ordering: .relaxed) }
}
