import RoutingRules
import Testing

/// "Did you mean" for typos (transpositions included) and for other tools' words.
@Suite(.timeLimit(.minutes(10))) struct SuggestionTests {
    func suggestion(_ yaml: String) -> [String] {
        diagnostics(yaml).compactMap { line in
            line.range(of: "did you mean '").map { String(line[$0.upperBound...].prefix { $0 != "'" }) }
        }
    }

    @Test func transposedLettersAreOneTypo() {
        #expect(
            suggestion(
                """
                version: 1
                routes:
                  - name: a
                    whne: { message.message_type: TEXT }
                    deliver: as_is
                """) == ["when"])
        #expect(
            suggestion(
                """
                version: 1
                routes:
                  - name: a
                    when: { message.message_type: { nto_in: [TEXT] } }
                    deliver: as_is
                """) == ["not_in"])
    }

    @Test func otherToolsWordsPointAtTheLanguagesOwn() {
        let cases: [(String, String)] = [
            ("when: { message.message_type: { equals: TEXT } }\n    deliver: as_is", "eq"),
            ("when: { message.text_payload: { regex: \"^hi\" } }\n    deliver: as_is", "matches"),
            ("when: { message.text_payload: { starts_with: hi } }\n    deliver: as_is", "prefix"),
            ("when: { message.priority: { gte: 3 } }\n    deliver: as_is", "ge"),
            ("if: { message.message_type: TEXT }\n    deliver: as_is", "when"),
            ("select: { strategy: roundrobin }", "round_robin"),
            ("select: { agents: { is_online: true } }", "online"),
            ("when: { msg.message_type: TEXT }\n    deliver: as_is", "message"),
        ]
        for (route, expected) in cases {
            let found = suggestion("version: 1\nroutes:\n  - name: a\n    \(route)\n")
            #expect(found == [expected], "\(route): \(diagnostics("version: 1\nroutes:\n  - name: a\n    \(route)\n"))")
        }
    }

    @Test func unrelatedWordsGetNoSuggestion() {
        #expect(
            suggestion(
                """
                version: 1
                routes:
                  - name: a
                    frobnicate: 1
                    deliver: as_is
                """
            ).isEmpty)
    }
}
