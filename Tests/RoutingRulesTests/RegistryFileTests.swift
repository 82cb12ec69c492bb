import Foundation
import RoutingRules
import Testing

/// Registry files (and registries inside rule test files) are checked as strictly as rule files:
/// unknown keys and values of the wrong type are errors at their position.
@Suite(.timeLimit(.minutes(10))) struct RegistryFileTests {
    func problems(_ yaml: String) -> [String] {
        do {
            _ = try YAMLData.registry(Array(yaml.utf8), name: "agents.yaml")
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func misspelledKeysAndWrongTypesAreErrorsWhereTheyAre() {
        #expect(
            problems(
                """
                agents:
                  - { agent_id: a, is_onlin: true }
                  - { agent_id: b, is_online: yes }
                  - { agent_name: C, is_online: true }
                  - { agent_id: 7, metrics: { load: [1, 2] } }
                """) == [
                    "agents.yaml:2:20: error: unknown key 'is_onlin' in agent; did you mean 'is_online'?",
                    "agents.yaml:3:31: error: is_online must be true or false, found 'yes'",
                    "agents.yaml:4:5: error: agent has no agent_id",
                    "agents.yaml:5:17: error: agent_id must be a non-empty string, found a number",
                    "agents.yaml:5:37: error: metric 'load' must be a single value, found a sequence",
                ])
        #expect(
            problems("agent:\n  - { agent_id: a }\n") == [
                "agents.yaml:1:1: error: unknown key 'agent' in registry; did you mean 'agents'?"
            ])
        #expect(
            problems("agents: { agent_id: a }\n") == [
                "agents.yaml:1:9: error: 'agents' is a list of agents, found a mapping"
            ])
    }

    @Test func theShippedRegistryAndValidFilesLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let shipped = try Data(contentsOf: root.appendingPathComponent("rules/registries/three-agents.yaml"))
        #expect(try YAMLData.registry([UInt8](shipped), name: "three-agents.yaml").count == 3)
        #expect(
            problems("- { agent_id: a, is_online: false, last_seen: 2024-05-01T12:00:00Z, metrics: { load: 0.5 } }\n")
                .isEmpty)
    }

    @Test func aRegistryInsideATestFileIsCheckedAtItsPlaceInThatFile() {
        let text = """
            rules: ../default.yaml
            registry: { agents: [{ agent_id: a, is_online: yes }] }
            cases:
              - message: { message_type: TEXT }
                expect: { route: random-online-agent }
            """
        do {
            _ = try RuleTests.parse(Array(text.utf8), name: "cases.yaml")
            Issue.record("accepted is_online: yes")
        } catch {
            #expect(
                error.diagnostics.map(\.description).contains(
                    "cases.yaml:2:48: error: is_online must be true or false, found 'yes'"), "\(error)")
        }
    }

    /// Wrong value types in a test file are errors at the value (they were read as something
    /// else: `agents: agent_a` expected nobody, `message: "{...}"` sent a string).
    @Test func valueTypesInATestFileAreCheckedWithPositions() {
        let text = """
            rules: [a.yaml]
            cases:
              - name: { x: 1 }
                message: '{"message_type": "TEXT"}'
                expect: { agents: agent_a, fields: [routing_status], drop: "yes", dead_letter: [x], route: ~ }
            """
        do {
            _ = try RuleTests.parse(Array(text.utf8), name: "cases.yaml")
            Issue.record("accepted wrong types")
        } catch {
            let found = error.diagnostics.map(\.description)
            for expected in [
                "cases.yaml:1:8: error: 'rules' must be a single value (text), found a sequence",
                "cases.yaml:3:11: error: 'name' must be a single value (text), found a mapping",
                "cases.yaml:4:14: error: 'message' must be a mapping (the message as JSON), found a string; raw text goes in 'message_json'",
                "cases.yaml:5:23: error: 'agents' must be a list of agent ids or names, found a string",
                "cases.yaml:5:40: error: 'fields' must be a mapping of field names to values, found a sequence",
                "cases.yaml:5:64: error: 'drop' takes true, found 'yes'",
                "cases.yaml:5:84: error: 'dead_letter' (true, or a part of the reason) must be a single value (text), found a sequence",
                "cases.yaml:5:96: error: 'route' must be a single value (text), found null",
            ] {
                #expect(found.contains(expected), "\(expected)\n\(found.joined(separator: "\n"))")
            }
        }
    }
}
