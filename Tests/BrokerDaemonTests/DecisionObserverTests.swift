import BrokerCore
import BrokerDaemon
import BrokerRouter
import Foundation
import RoutingRules
import Testing

@Suite(.timeLimit(.minutes(10))) struct DecisionObserverTests {
    let ruleSet = RuleSetLoader().load([
        RuleSource(name: "r.yaml", text: "version: 1\nroutes:\n  - { name: all, deliver: as_is }\n")
    ]).ruleSet!

    func record(bodySize: Int) throws -> RoutingRecord {
        var record = RoutingRecord(ruleSet: ruleSet)
        let text = #"{"message_id":"m\#(bodySize)","text_payload":"\#(String(repeating: "x", count: bodySize))"}"#
        record.message = try Message(decoding: Array(text.utf8))
        record.bodySize = text.utf8.count
        record.snapshot = AgentRegistry().snapshot
        record.outcome = .published(count: 1, route: "all")
        return record
    }

    /// The ring behind `/decisions` holds 100 records: large messages must not stay in it whole
    /// (30 messages of 16 MB kept 480 MB alive).
    @Test func largeMessagesAreKeptInTheDecisionLogByIDOnly() throws {
        let decisionObserver = DecisionObserver(metrics: BrokerMetrics())
        decisionObserver.observe(try record(bodySize: 100))
        decisionObserver.observe(try record(bodySize: DecisionObserver.maximumRecordedBodySize + 1))
        let recent = decisionObserver.recentDecisions(limit: 2)
        #expect(recent[0].isTrimmed && recent[0].message == nil && recent[0].snapshot == nil)
        #expect(recent[0].messageID == "m\(DecisionObserver.maximumRecordedBodySize + 1)")
        #expect(!recent[1].isTrimmed && recent[1].message != nil)
    }

    /// The console shows totals per route and outcome and, per agent, how many messages it got.
    @Test func decisionsAreCountedByRouteAndOutcomeAndDeliveriesByAgent() throws {
        let rules = try #require(
            RuleSetLoader().load([
                RuleSource(
                    name: "r.yaml",
                    text: """
                        version: 1
                        routes:
                          - name: pick
                            when: { message.message_type: TEXT }
                            select: { agents: { online: true }, strategy: first }
                        """)
            ]).ruleSet)
        let snapshot = AgentRegistry.Snapshot(agents: [Agent(id: "agent_a", name: "A", isOnline: true)])
        let decisionObserver = DecisionObserver(metrics: BrokerMetrics())
        for type in ["TEXT", "TEXT", "OTHER"] {
            var record = RoutingRecord(ruleSet: rules)
            record.message = try Message(decoding: Array(#"{"message_type":"\#(type)"}"#.utf8))
            record.snapshot = snapshot
            var random = FastRandom(seed: 1)
            record.decision = rules.evaluate(record.message!, in: snapshot, random: &random)
            record.outcome =
                type == "TEXT" ? .published(count: 1, route: "pick") : .deadLettered(code: "no_route", reason: "none")
            decisionObserver.observe(record)
        }
        let counts = decisionObserver.decisionCounts
        #expect(counts.total == 3)
        #expect(counts.byRoute["pick"] == ["published": 2])
        #expect(counts.byRoute["none"] == ["dead_letter_no_route": 1])
        #expect(decisionObserver.deliveriesByAgent == ["agent_a": 2])
    }
}
