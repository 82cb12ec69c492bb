import BrokerCore
import Foundation
import RoutingRules
import Testing

/// What untrusted rules (pasted into `POST /-/try`) and hostile messages can cost: bounded in
/// memory when the rules compile and in time when they are evaluated.
@Suite(.timeLimit(.minutes(10))) struct EvaluationBoundsTests {
    /// `n` routes each testing `message.text` with `test`.
    static func routes(_ count: Int, _ test: String) -> String {
        "version: 1\ndefaults: { on_no_route: drop }\nroutes:\n"
            + (0..<count).map { "  - name: r\($0)\n    when: { message.text: \(test) }\n    deliver: as_is\n" }.joined()
    }

    /// 4,000 routes of `(a{1000}){19}` compiled to 76 million automaton steps and 1.8 GB: the
    /// rule set's regular expressions share one budget, and the pattern that crosses it is named.
    @Test func regularExpressionsShareOneBudget() throws {
        let yaml = Self.routes(60, "{ matches: '(a{1000}){19}' }")
        let problems = diagnostics(yaml)
        #expect(problems.count == 1, "\(problems)")
        // 19,001 steps each: the 53rd pattern crosses a million; route i's test is on line 5 + 3i.
        #expect(problems.first?.hasPrefix("test.yaml:161:38: error: the regular expressions") == true, "\(problems)")
        #expect(problems.first?.contains("more than 1000000 automaton steps") == true)
        var limits = RuleFileLimits()
        limits.maximumPatternSteps = 2_000_000
        #expect(RuleSetLoader(limits: limits).load([RuleSource(name: "t.yaml", text: yaml)]).ruleSet != nil)
    }

    /// A trial of 100 KB of text against costly patterns took minutes: with a deadline the
    /// evaluation stops soon after it, and says it did.
    @Test func aDeadlineStopsTheEvaluation() async throws {
        let rules = try compile(Self.routes(400, "{ matches: '(a|b){1,200}c' }"))
        let text = String(repeating: "ab", count: 50_000)
        let message = try Message(decoding: Array(#"{"text":"\#(text)"}"#.utf8))
        let (elapsed, passed) = await onThreadOfItsOwn {
            let clock = ContinuousClock()
            let started = clock.now
            let deadline = EvaluationDeadline(after: .milliseconds(200))
            var random = FastRandom(seed: 1)
            _ = rules.explain(message, in: snapshot([]), random: &random, deadline: deadline)
            return (clock.now - started, deadline.hasPassed)
        }
        #expect(passed)
        #expect(elapsed < .seconds(3), "the evaluation ran \(elapsed) past a 0.2 s deadline")
    }

    /// Without a deadline (the routing path) the same patterns decide as before.
    @Test func withoutADeadlineNothingChanges() throws {
        let rules = try compile(Self.routes(2, "{ matches: '(a|b){1,5}c' }"))
        #expect(try rules.decide(#"{"text":"xxababc"}"#, snapshot([])).route == "r0")
        #expect(try rules.decide(#"{"text":"xxabab"}"#, snapshot([])).route == nil)
    }

    /// `contains` on text compared the needle at every position: a 50 KB needle in a 100 KB
    /// message took two minutes. It is linear in the text now.
    @Test func containsIsLinearInTheText() async throws {
        let needle = String(repeating: "a", count: 50_000) + "b"
        let rules = try compile(Self.routes(1, "{ contains: '\(needle)' }"))
        let elapsed = try await onThreadOfItsOwn {
            Result {
                let clock = ContinuousClock()
                let started = clock.now
                let near = try rules.decide(#"{"text":"\#(String(repeating: "a", count: 100_000))"}"#, snapshot([]))
                let hit = try rules.decide(#"{"text":"\#(String(repeating: "a", count: 60_000))b"}"#, snapshot([]))
                return (clock.now - started, near.route, hit.route)
            }
        }.get()
        #expect(elapsed.1 == nil && elapsed.2 == "r0")
        #expect(elapsed.0 < .seconds(5), "contains took \(elapsed.0)")
    }

    /// `contains` agrees with a plain search by code point, as the original broker's `in`
    /// does (so a decomposed accent does not hide the letter before it).
    @Test func containsMatchesByCodePoint() throws {
        var random = FastRandom(seed: 7)
        let alphabet: [Unicode.Scalar] = ["a", "b", "é", "\u{301}", "日"]
        func text(_ length: Int) -> String {
            var s = String.UnicodeScalarView()
            for _ in 0..<length { s.append(alphabet[Int(random.next() % UInt64(alphabet.count))]) }
            return String(s)
        }
        for _ in 0..<300 {
            let needle = text(1 + Int(random.next() % 4))
            let haystack = text(Int(random.next() % 12))
            let rules = try compile(Self.routes(1, "{ contains: \"\(needle)\" }"))
            let scalars = Array(haystack.unicodeScalars)
            let wanted = Array(needle.unicodeScalars)
            let expected =
                scalars.count >= wanted.count
                && (0...(scalars.count - wanted.count)).contains { Array(scalars[$0..<($0 + wanted.count)]) == wanted }
            let decided = try rules.decide(#"{"text":"\#(haystack)"}"#, snapshot([])).route == "r0"
            #expect(decided == expected, "\(needle.debugDescription) in \(haystack.debugDescription)")
        }
        let rules = try compile(Self.routes(1, "{ contains: cafe }"))
        #expect(try rules.decide(#"{"text":"un cafe\#u{301} noir"}"#, snapshot([])).route == "r0")
    }
}
