import BrokerCore
import Foundation
import Testing

@testable import RoutingRules

/// What `test-rules --coverage` counts, evaluation by evaluation.
@Suite(.timeLimit(.minutes(10))) struct RuleCoverageTests {
    static let rules = """
        version: 1
        routes:
          - name: texts
            when:
              message.message_type: TEXT
              any: [{ message.priority: { ge: 4 } }, { message.tag: urgent }]
            select: { exclude: [sender] }
            otherwise: { drop: nobody }
          - name: replies
            when: { message.message_type: REPLY }
            deliver: as_is
        """

    func record(
        _ ruleSet: RuleSet, _ json: String, _ registry: AgentRegistry.Snapshot, into coverage: inout RuleCoverage
    )
        throws
    {
        var random = FastRandom(seed: 1)
        let decoded = try message(json)
        let explanation = ruleSet.explain(decoded, in: registry, random: &random)
        coverage.record(explanation, message: decoded, snapshot: registry, now: nil)
    }

    func missed(_ coverage: RuleCoverage) -> [String] { coverage.missed.map { "\($0.route): \($0.description)" } }

    @Test func itemsAreRoutesBranchesAlternativesAndOtherwiseLinks() throws {
        let ruleSet = try compile(Self.rules)
        let coverage = RuleCoverage(ruleSet: ruleSet)
        #expect(coverage.count(.route) == (0, 3))
        #expect(coverage.count(.branch) == (0, 6))
        #expect(coverage.count(.otherwise) == (0, 1))
        #expect(coverage.percent == 0)
        #expect(
            missed(coverage).contains(#"texts: any alternative 2 holds: message.tag == "urgent""#),
            "\(missed(coverage))")
    }

    @Test func aRouteTheIndexSkippedStillCountsAsFailing() throws {
        let ruleSet = try compile(Self.rules)
        var coverage = RuleCoverage(ruleSet: ruleSet)
        // The index looks only at `replies` for a REPLY; `texts` fails all the same.
        try record(ruleSet, #"{"message_type":"REPLY"}"#, snapshot([]), into: &coverage)
        #expect(!missed(coverage).contains("texts: when fails"))
        #expect(!missed(coverage).contains("replies: decides"))
        #expect(missed(coverage).contains("replies: when fails"))
    }

    @Test func followingOtherwiseIsNotDecidingAndCountsTheLink() throws {
        let ruleSet = try compile(Self.rules)
        var coverage = RuleCoverage(ruleSet: ruleSet)
        try record(ruleSet, #"{"message_type":"TEXT","sender_id":"a","tag":"urgent"}"#, snapshot([]), into: &coverage)
        let left = missed(coverage)
        #expect(left.contains("texts: decides"))
        #expect(!left.contains("texts: when holds") && !left.contains("texts/otherwise: decides"))
        #expect(!left.contains("texts: otherwise → texts/otherwise"))
        #expect(!left.contains(#"texts: any alternative 2 holds: message.tag == "urgent""#))
        #expect(left.contains("texts: any alternative 1 holds: message.priority ge 4"), "\(left)")
        try record(
            ruleSet, #"{"message_type":"TEXT","sender_id":"a","priority":5}"#, snapshot([("b", true, [:])]),
            into: &coverage)
        #expect(!missed(coverage).contains("texts: decides"))
    }
}
