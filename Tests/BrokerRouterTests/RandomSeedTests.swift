import BrokerCore
import BrokerRouter
import BrokerTransports
import InMemoryTransport
import RoutingRules
import Synchronization
import TestSupport
import Testing

/// Random picks come from the system's random source per process: replicas, and a broker before
/// and after a restart, do not pick in lockstep; each decision's seed is kept, so it replays.
@Suite(.timeLimit(.minutes(10))) struct RandomSeedTests {
    /// Keeps every record the router reports.
    final class Records: RouterObserver {
        let records = Mutex<[RoutingRecord]>([])
        func observe(_ record: RoutingRecord) { records.withLock { $0.append(record) } }
    }

    /// The agents a fresh router (as a fresh process has) picks for `count` messages, in order.
    func picks(_ count: Int, observer: Records? = nil) async -> [String] {
        let queues = InMemoryQueues()
        let router = MessageRouter(
            rules: RuleSetHolder(defaultRules), registry: threeOnlineAgents(), output: queues.sink, observer: observer)
        for i in 0..<count {
            queues.enqueue(
                Array(#"{"message_type":"TEXT","sender_id":"web_1","message_id":"m\#(i)"}"#.utf8),
                to: "broker_input_queue")
        }
        await drain(queues, router, expected: count, prefetch: 1)
        return queues.drain("server_input_queue").compactMap { try? Message(decoding: $0.body).receiverID }
    }

    @Test func twoBrokersStartedAlikePickDifferently() async throws {
        let first = await picks(60)
        let second = await picks(60)
        #expect(first.count == 60 && second.count == 60)
        // Equal by chance: (1/3)^60.
        #expect(first != second, "two routers made the same 60 random picks")
    }

    @Test func aDecisionReplaysFromItsRecordedSeed() async throws {
        let records = Records()
        _ = await picks(20, observer: records)
        let kept = records.records.withLock { $0 }
        #expect(kept.count == 20)
        for record in kept {
            let message = try #require(record.message)
            let snapshot = try #require(record.snapshot)
            var random = FastRandom(seed: record.seed)
            let replayed = record.ruleSet.evaluate(message, in: snapshot, random: &random)
            #expect(replayed == record.decision)
        }
        #expect(Set(kept.map(\.seed)).count == 20, "every decision has a seed of its own")
    }
}
