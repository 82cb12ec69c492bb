import RoutingRules
import Testing

/// What the libyaml event loader checks itself, with the positions a user is shown.
@Suite(.timeLimit(.minutes(10))) struct YAMLLoaderTests {
    @Test func aBlockScalarLineThatLooksLikeAnAliasKeyIsText() {
        // The old line pre-scan read "*not: an alias" inside the block scalar as an alias key.
        let yaml = """
            version: 1
            routes:
              - name: a
                description: |
                  *not: an alias, just text
                  [neither is this
                when: { message.message_type: TEXT }
                deliver: as_is
            """
        #expect(diagnostics(yaml) == [])
    }

    /// Small mappings search their keys, large ones switch to a table part-way: a duplicate is
    /// found at the same place either way, with a note at the first.
    @Test(arguments: [3, 15, 16, 17, 40]) func aDuplicateKeyIsReportedAtTheDuplicate(keys: Int) {
        let set = (0..<keys).map { "k\($0): v" }.joined(separator: ", ")
        let yaml = "version: 1\nroutes:\n  - name: a\n    set: { \(set), k\(keys - 1): again }\n    deliver: as_is\n"
        let column = 12 + set.utf8.count + 2
        let firstColumn = 12 + set.utf8.count - "k\(keys - 1): v".utf8.count
        let found = RuleSetLoader().load([RuleSource(name: "test.yaml", text: yaml)]).diagnostics
        #expect(found.map(\.message) == ["duplicate key 'k\(keys - 1)' in mapping"])
        #expect(found.map(\.location.description) == ["test.yaml:4:\(column)"])
        #expect(found.first?.notes.map(\.location.column) == [firstColumn])
    }

    @Test func anAliasAsAKeyIsRefusedWhereItIsUsed() {
        let yaml = """
            version: 1
            x: &k name
            routes:
              - *k : a
                deliver: as_is
            """
        #expect(diagnostics(yaml) == ["test.yaml:4:5: error: an alias cannot be used as a mapping key in a rule file"])
    }

    @Test func anAliasWithoutAnAnchorIsAnError() {
        #expect(
            diagnostics("version: 1\nroutes: *nowhere\n") == [
                "test.yaml:2:9: error: alias '*nowhere' names no anchor defined before it"
            ])
    }

    @Test func aliasesExpandToTheirAnchorsContent() {
        let yaml = """
            version: 1
            routes:
              - name: a
                when: &chat { message.message_type: TEXT, message.sender_id: web_1 }
                deliver: as_is
              - name: b
                when: *chat
                deliver: as_is
            """
        // The alias stands for the same condition, so route b can never match: shadowed.
        #expect(diagnostics(yaml).count == 1)
        #expect(diagnostics(yaml).first?.contains("warning") == true, "\(diagnostics(yaml))")
    }

    @Test func aSecondDocumentIsRefusedWhereItStarts() {
        #expect(
            diagnostics("version: 1\nroutes: []\n---\nversion: 2\n") == [
                "test.yaml:3:1: error: a rule file holds one YAML document; a second one starts here"
            ])
    }

    @Test func anUnclosedMappingPointsAtWhereItOpened() {
        var lines = ["version: 1", "routes:", "  - name: a", "    when: { message.message_type: TEXT"]
        lines += (0..<300).map { "    # filler \($0)" }
        let found = diagnostics(lines.joined(separator: "\n") + "\n")
        #expect(found.count == 1)
        #expect(found.first?.contains("\ntest.yaml:4:11: note: the flow mapping starts here") == true, "\(found)")
    }
}
