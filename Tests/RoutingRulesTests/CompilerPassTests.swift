import BrokerCore
import Foundation
import RoutingRules
import Testing

/// The compiler's named passes: what each reports, that one run reports the problems of all of
/// them, and that their times add up to the compile time `validate-rules --timings` prints.
@Suite(.timeLimit(.minutes(10))) struct CompilerPassTests {
    static let passes = ["merge defaults", "route table", "otherwise chains", "lowering", "shadowing", "index"]

    @Test func everyPassIsTimedInOrder() throws {
        var timings = LoadTimings()
        let text = "version: 1\nroutes:\n  - name: a\n    deliver: as_is\n"
        let result = RuleSetLoader().load([RuleSource(name: "a.yaml", text: text)], timings: &timings)
        #expect(result.ruleSet != nil)
        #expect(timings.passes.map(\.name) == Self.passes)
        #expect(timings.compile == timings.passes.reduce(.zero) { $0 + $1.duration })
        #expect(timings.total == timings.yamlTree + timings.syntax + timings.compile + timings.other)
        #expect(timings.bytes == text.utf8.count)
    }

    /// Shadowing and the index run only on rules without errors: an error leaves them out of
    /// the timings, and a parse error does too.
    @Test func thePassesAfterLoweringRunOnlyWithoutErrors() {
        for text in [
            "version: 1\nroutes:\n  - name: a\n    deliver: as_is\n    otherwise: nowhere\n",
            "version: 1\nroutes:\n  - name: a\n    delivr: as_is\n",
        ] {
            var timings = LoadTimings()
            let result = RuleSetLoader().load([RuleSource(name: "a.yaml", text: text)], timings: &timings)
            #expect(result.ruleSet == nil)
            #expect(timings.passes.map(\.name) == Array(Self.passes.prefix(4)), "\(text)")
        }
    }

    @Test func oneRunReportsTheProblemsOfEveryPass() {
        let first = """
            version: 1
            defaults: { output: q1 }
            routes:
              - name: a
                when: { message.message_type: TEXT }
                deliver: as_is
                otherwise: b
              - name: b
                when: { message.message_type: REPLY }
                deliver: as_is
                otherwise: a
            """
        let second = """
            version: 1
            defaults: { output: q2 }
            routes:
              - name: a
                deliver: as_is
              - name: c
                when: { sender.online: maybe }
                deliver: as_is
                otherwise: cc
            """
        let result = RuleSetLoader().load([
            RuleSource(name: "1.yaml", text: first), RuleSource(name: "2.yaml", text: second),
        ])
        #expect(result.ruleSet == nil)
        let found = result.diagnostics.map(\.description)
        #expect(
            found == [
                "1.yaml:11:16: error: 'otherwise' cycle: a -> b -> a",
                "2.yaml:2:21: error: 'defaults.output' is already set at 1.yaml:2:21",
                "2.yaml:4:11: error: duplicate route name 'a' (first defined at 1.yaml:4:11)",
                "2.yaml:7:28: error: sender.online is true or false; 'maybe' can never match",
                "2.yaml:9:16: error: 'otherwise' names unknown route 'cc'; did you mean 'c'?",
            ], "\(found)")
    }

    @Test func routesAfterACatchAllAreReportedOnce() {
        let found = diagnostics(
            """
            version: 1
            routes:
              - name: all
                deliver: as_is
              - name: later
                when: { message.message_type: TEXT }
                deliver: as_is
            """)
        #expect(
            found == [
                "test.yaml:5:11: warning: route 'later' can never match: route 'all' at test.yaml:3:5 matches every message first"
            ])
    }

    @Test func inlineOtherwiseRoutesAreNamedAfterTheirParent() throws {
        let rules = try compile(
            """
            version: 1
            routes:
              - name: billing
                select: { agents: { metrics.skill: billing } }
                otherwise:
                  select: { agents: { metrics.skill: general } }
                  otherwise: { drop: "nobody" }
            """)
        #expect(rules.routeNames == ["billing"])
        let general = snapshot([("g", true, ["skill": "general"])])
        #expect(try rules.decide(#"{"message_type":"TEXT"}"#, general).route == "billing/otherwise")
        #expect(try rules.decide(#"{"message_type":"TEXT"}"#, snapshot([])).route == "billing/otherwise/otherwise")
    }

    /// `same_as` names a subject: the parser reads it (with the subject errors every other
    /// subject gets, at the operand) and explanations show it as a subject, not a string.
    @Test func sameAsOperandIsParsedAsASubject() throws {
        let found = diagnostics(
            """
            version: 1
            routes:
              - name: a
                when:
                  message.receiver_id: { same_as: mesage.sender_id }
                  message.sender_id: { same_as: [message.a] }
                deliver: as_is
            """)
        #expect(found.count == 2, "\(found)")
        #expect(found.first?.hasPrefix("test.yaml:5:39: error: unknown subject 'mesage.sender_id'") == true)
        #expect(
            found.last
                == "test.yaml:6:37: error: 'same_as' takes a subject such as message.sender_id, not a sequence")
        let rules = try compile(
            """
            version: 1
            routes:
              - name: self
                when: { message.receiver_id: { same_as: message.sender_id } }
                drop: "to itself"
            """)
        var random = FastRandom(seed: 1)
        let explained = rules.explain(
            try message(#"{"sender_id":"x","receiver_id":"y"}"#), in: snapshot([]), random: &random
        ).render()
        #expect(explained.contains("message.receiver_id same_as message.sender_id"), "\(explained)")
    }

    /// Evaluation tracks the current route's name only for rule sets that read it; each place
    /// that can read it (a condition, a template, a selection's hash key) must say so.
    @Test func routeNameIsKnownWhereverARuleReadsIt() throws {
        let inCondition = try compile(
            """
            version: 1
            routes:
              - name: alpha
                when: { route.name: alpha, message.message_type: TEXT }
                deliver: as_is
              - name: beta
                when: { route.name: alpha }
                deliver: as_is
            """)
        #expect(try inCondition.decide(#"{"message_type":"TEXT"}"#, snapshot([])).route == "alpha")
        #expect(try inCondition.decide(#"{"message_type":"ERROR"}"#, snapshot([])).route == nil)
        let inTemplate = try compile(
            """
            version: 1
            routes:
              - name: gamma
                set: { by: "{route.name}" }
                deliver: as_is
            """)
        guard case .deliver(let delivery) = try inTemplate.decide(#"{"message_type":"TEXT"}"#, snapshot([])).outcome
        else {
            Issue.record("not delivered")
            return
        }
        #expect(delivery.message.body["by"] == .string("gamma"))
        // Rendezvous hashing on the route name: one agent per route, whatever the message.
        let inHash = try compile(
            """
            version: 1
            routes:
              - name: delta
                when: { message.message_type: TEXT }
                select: { agents: { online: true }, strategy: { hash: route.name } }
              - name: zeta
                select: { agents: { online: true }, strategy: { hash: route.name } }
            """)
        let agents = snapshot((0..<8).map { ("a\($0)", true, [:]) })
        func picks(_ type: String) throws -> Set<String> {
            Set(
                try (0..<10).map {
                    try inHash.decide(#"{"message_type":"\#(type)","message_id":"m\#($0)"}"#, agents, seed: UInt64($0))
                }
                .map { decision -> String in
                    guard case .deliver(let delivery) = decision.outcome else { return "\(decision.outcome)" }
                    return delivery.agentID ?? "none"
                })
        }
        let delta = try picks("TEXT")
        let zeta = try picks("REPLY")
        #expect(delta.count == 1 && zeta.count == 1)
        #expect(delta != zeta)
    }

    /// A route reached only as another route's `otherwise` is reachable, wherever it stands
    /// (issue 13: `--strict` refused such correct rule sets).
    @Test func aRouteReachedOnlyAsAFallbackIsNotReportedUnreachable() {
        let found = diagnostics(
            """
            version: 1
            routes:
              - name: billing
                when: { message.message_type: TEXT }
                select: { agents: { metrics.skill: billing } }
                otherwise: general
              - name: everything-else
                deliver: as_is
              - name: general
                when: { message.message_type: TEXT }
                select: { agents: { online: true } }
              - name: forgotten
                when: { message.message_type: REPLY }
                deliver: as_is
            """)
        #expect(
            found == [
                "test.yaml:12:11: warning: route 'forgotten' can never match: route 'everything-else' at test.yaml:7:5 matches every message first"
            ], "\(found)")
    }

    /// Shadowing is not checked in rules with errors: its warnings would only echo them.
    @Test func errorsAreNotEchoedByShadowingWarnings() {
        let found = diagnostics(
            """
            version: 1
            routes:
              - name: a
                when: { sender.online: maybe }
                deliver: as_is
              - name: b
                when: { sender.online: maybe }
                deliver: as_is
              - name: c
                when: { mesage.x: 1 }
                deliver: as_is
              - name: d
                when: { mesage.x: 1 }
                deliver: as_is
            """)
        #expect(found.allSatisfy { $0.contains(": error: ") }, "\(found)")
        #expect(found.count == 4, "\(found)")
    }
}
