import RoutingRules
import Testing

/// What the libyaml event loader checks itself, with the positions a user is shown.
@Suite struct YAMLLoaderTests {
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
