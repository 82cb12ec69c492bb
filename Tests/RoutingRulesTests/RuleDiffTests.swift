import BrokerCore
import Foundation
import RoutingRules
import TestSupport
import Testing

@Suite(.timeLimit(.minutes(10))) struct RuleDiffTests {
    static let agents = [
        Agent(id: "agent_a", name: "A", isOnline: true, metrics: AgentMetrics(["skill": "billing", "load": "0.1"])),
        Agent(id: "agent_b", name: "B", isOnline: true, metrics: AgentMetrics(["skill": "support", "load": "0.5"])),
        Agent(id: "agent_c", name: "C", isOnline: true, metrics: AgentMetrics(["skill": "billing", "load": "0.9"])),
    ]

    static let randomRules = """
        version: 1
        routes:
          - name: anyone
            when: { message.message_type: TEXT }
            set: { routing_status: routed }
            select: { agents: { online: true }, exclude: [sender], strategy: random }
          - name: turns
            when: { message.message_type: REPLY }
            select: { agents: { online: true }, strategy: round_robin }
        """

    /// `count` TEXT messages, `invoices` of them about an invoice, as recorded lines.
    static func recorded(count: Int, invoices: Int) -> [String] {
        (0..<count).map { i in
            let text = i < invoices ? "my invoice \(i)" : "hello \(i)"
            let type = i % 4 == 3 ? "REPLY" : "TEXT"
            return
                #"{"version":1,"seed":\#(i * 7919),"message":{"message_type":"\#(type)","message_id":"m\#(i)","sender_id":"agent_b","text_payload":"\#(text)"}}"#
        }
    }

    func diff(_ old: String, _ new: String, _ lines: [String]) throws -> RuleDiff {
        let (oldRules, newRules) = (try compile(old, file: "old.yaml"), try compile(new, file: "new.yaml"))
        var diff = RuleDiff()
        let registry = AgentRegistry.Snapshot(agents: Self.agents)
        for (number, line) in lines.enumerated() {
            let record = try DecisionRecord(line: Array(line.utf8), fallbackSeed: UInt64(number + 1))
            diff.compare(record, line: number + 1, old: oldRules, new: newRules, registry: registry)
        }
        return diff
    }

    @Test func identicalRuleSetsChangeNothingEvenWithRandomAndRoundRobinStrategies() throws {
        let lines = Self.recorded(count: 400, invoices: 0)
        let result = try diff(Self.randomRules, Self.randomRules, lines)
        #expect(result.compared == 400 && result.changed == 0 && result.groups.isEmpty)
    }

    @Test func exactlyTheMessagesARuleCatchesAreReportedGroupedByRouteAndField() throws {
        let billing = Self.randomRules.replacingOccurrences(
            of: "routes:\n",
            with: """
                routes:
                  - name: billing
                    when: { message.message_type: TEXT, message.text_payload: { matches: invoice } }
                    set: { routing_status: routed }
                    select: { agents: { metrics.skill: billing }, exclude: [sender], strategy: { least: metrics.load } }

                """)
        let lines = Self.recorded(count: 200, invoices: 37)
        let result = try diff(Self.randomRules, billing, lines)
        // Of the 37 invoices, those with i % 4 == 3 are REPLYs the new route does not take.
        let caught = (0..<37).filter { $0 % 4 != 3 }.count
        #expect(result.compared == 200)
        #expect(result.changed == caught)
        let routeChanges = result.groups.filter { $0.change.oldRoute == "anyone" && $0.change.newRoute == "billing" }
        #expect(routeChanges.reduce(0) { $0 + $1.count } == caught)
        #expect(result.changedByField[.route] == caught)
        // Always agent_a (least loaded billing agent): the receiver changed wherever random had not picked it.
        let receiverChanged = routeChanges.first { $0.change.fields.contains(.receiver) }?.count ?? 0
        #expect(receiverChanged > 0 && receiverChanged <= caught)
        #expect(
            result.groups.allSatisfy { $0.examples.count <= 3 && $0.examples.allSatisfy { $0.new.route == "billing" } })
        #expect(result.changedByField[.output] == nil && result.changedByField[.action] == nil)
    }

    @Test func originalBrokerCasesAreReadAndUnreadableLinesCounted() throws {
        let cases = try String(
            contentsOf: corpus.appendingPathComponent("original-broker-cases.jsonl"), encoding: .utf8
        )
        .split(separator: "\n").map(String.init)
        let defaults = try String(
            contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8)
        let rules = try compile(defaults)
        var result = RuleDiff()
        for (number, line) in cases.enumerated() {
            do {
                let record = try DecisionRecord(line: Array(line.utf8), fallbackSeed: UInt64(number))
                #expect(!record.agents.isEmpty, "registry_online becomes the message's registry")
                result.compare(record, line: number + 1, old: rules, new: rules, registry: nil)
            } catch {
                result.skip(because: "\(error)")
            }
        }
        #expect(result.compared == cases.count - 2 && result.changed == 0)
        #expect(result.skipped == ["input is not a JSON object": 2])
    }

    @Test func theDaemonsLinesReplayTheirDecision() throws {
        let rules = try compile(Self.randomRules)
        let registry = AgentRegistry.Snapshot(agents: Self.agents)
        let message = try Message(
            decoding: Array(#"{"message_type":"TEXT","sender_id":"agent_b","message_id":"x"}"#.utf8))
        // A seed past 2^53: it must not go through a Double.
        let seed = UInt64.max - 12_345
        var random = FastRandom(seed: seed)
        let decision = rules.evaluate(message, in: registry, random: &random)
        let line = DecisionRecord.line(
            message: message, agents: DecisionRecord.namedAgents(message, decision, in: registry), decision: decision,
            seed: seed, at: Date(), ruleSet: rules.hash, includesMessage: true)
        let record = try DecisionRecord(line: line.dropLast(), fallbackSeed: 0)
        #expect(record.seed == seed && record.agents.map(\.id).contains("agent_b"))
        var replay = FastRandom(seed: record.seed)
        #expect(rules.evaluate(record.message!, in: registry, random: &replay) == decision)
        let hidden = DecisionRecord.line(
            message: message, agents: [], decision: decision, seed: 99, at: Date(), ruleSet: rules.hash,
            includesMessage: false)
        #expect(!String(decoding: hidden, as: UTF8.self).contains("\"sender_id\""), "no message contents")
    }

    /// The shadow rules' fast path must agree with the full comparison on every kind of pair.
    @Test func agreeingDecisionsAreExactlyThoseWithNoDifferences() throws {
        let sets = [
            try compile(Self.randomRules),
            try compile(Self.randomRules.replacingOccurrences(of: "strategy: random", with: "strategy: first")),
            try compile("version: 1\nroutes:\n  - { name: anyone, when: { message.message_type: TEXT }, drop: x }\n"),
            try compile("version: 1\nroutes:\n  - { name: anyone, set: { routing_status: other }, deliver: as_is }\n"),
        ]
        let registry = AgentRegistry.Snapshot(agents: Self.agents)
        var pairs = 0
        for (number, line) in Self.recorded(count: 40, invoices: 0).enumerated() {
            let record = try DecisionRecord(line: Array(line.utf8), fallbackSeed: UInt64(number))
            let decisions = sets.map { rules -> Decision in
                var random = FastRandom(seed: record.seed)
                return rules.evaluate(record.message!, in: registry, random: &random)
            }
            for a in decisions {
                for b in decisions {
                    let differences = RuleDiff.Summary(a).differences(from: RuleDiff.Summary(b))
                    #expect(RuleDiff.Summary.agree(a, b) == differences.isEmpty, "\(a) vs \(b): \(differences)")
                    pairs += 1
                }
            }
        }
        #expect(pairs == 40 * 16)
    }
}
