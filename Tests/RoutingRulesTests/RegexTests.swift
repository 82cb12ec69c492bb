import Foundation
import RoutingRules
import Testing

@Suite(.timeLimit(.minutes(10))) struct RegexTests {
    func m(_ pattern: String, _ text: String) throws -> Bool { try LinearRegex(pattern).matches(text) }

    @Test func supportedSyntax() throws {
        #expect(try m("refund", "a refund"))
        #expect(try m("^a.c$", "abc"))
        #expect(try !m("^a.c$", "abbc"))
        #expect(try m("(?i)InVoIcE", "invoice"))
        #expect(try m("[a-c]{2,3}x", "zbcx"))
        #expect(try m(#"\d+-\w+\s"#, "12-ab "))
        #expect(try m(#"\bcat\b"#, "a cat sat"))
        #expect(try !m(#"\bcat\b"#, "concatenate"))
        // Digits are word characters, as in every engine but Swift's own \b (see RegexDifferentialTests).
        #expect(try m(#"\b"#, "1"))
        #expect(try m(#"b\B1"#, "cb1"))
        #expect(try !m(#"a\b1"#, "a1"))
        #expect(try m("colou?r", "color"))
        #expect(try m("(?:ab)+$", "xabab"))
        #expect(try m("[^0-9]", "12a"))
        #expect(try m("é+", "caféé"))
        #expect(try m("", "anything"))
    }

    @Test func catastrophicPatternsRunInLinearTime() throws {
        // These take exponential time in a backtracking engine.
        let text = String(repeating: "a", count: 5000) + "!"
        #expect(try !m("^(a+)+$", text))
        #expect(try !m("^(a|aa)*$", text))
        #expect(try !m("^(a*)*b$", text))
    }

    @Test func unsupportedFeaturesAreRefusedWithAReason() {
        for (pattern, reason) in [
            (#"(a)\1"#, "backreferences"), ("(?=a)", "lookahead"), ("(?<!a)b", "lookbehind"), ("(a", "missing ')'"),
            ("a{5,2}", "backwards"), ("*a", "nothing to repeat"), ("a{2000}", "above 1000"),
        ] {
            #expect(throws: RegexError.self) { try LinearRegex(pattern) }
            do {
                _ = try LinearRegex(pattern)
            } catch {
                #expect(error.description.contains(reason), "\(pattern): \(error)")
            }
        }
    }
}
