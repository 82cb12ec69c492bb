import Foundation
import TestSupport
import Testing

/// The JSON schemas in `schemas/` (rule files, rule test files, registry files, the config file)
/// accept every shipped file and flag the typos a user makes, as an editor using them would: the
/// YAML language server implements draft-07, so they are checked with Python's jsonschema
/// Draft7Validator, and `scripts/check-schema.py` refuses keywords of later drafts (which such a
/// validator silently ignores).
@Suite(.timeLimit(.minutes(10))) struct SchemaTests {
    func check(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runCommand("/usr/bin/env", ["python3", "scripts/check-schema.py"] + arguments)
    }

    /// A file under `Tests/` that names `schema` in its modeline, as a user's file would.
    func file(_ schema: String, _ text: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID()).yaml")
        let path = repositoryRoot.appendingPathComponent("schemas/\(schema).schema.json").path
        try "# yaml-language-server: $schema=\(path)\n\(text)".write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func everyShippedYAMLFileNamesItsSchemaAndIsValidAgainstIt() async throws {
        let root = CLITests.root.path
        let files =
            try ["rules", "rules/examples", "rules/tests", "rules/registries"].flatMap { directory in
                try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(directory)").filter {
                    $0.hasSuffix(".yaml")
                }
                .map { "\(directory)/\($0)" }
            } + ["deploy/broker.yaml", "deploy/kubernetes/broker.yaml"]
        #expect(files.count >= 15)
        let (status, output) = try await check(files)
        #expect(status == 0, "\(output)")
        #expect(output.contains("\(files.count) file(s) checked, 0 problem(s)"), "\(output)")
    }

    @Test func theRulesSchemaRejectsWhatTheValidatorRejects() async throws {
        for file in ["unknown-keys", "type-errors", "structure"] {
            let (status, output) = try await check([
                "--schema", "schemas/rules.schema.json", "Tests/RoutingRulesTests/Corpus/broken/\(file).yaml",
            ])
            #expect(status == 1, "\(file): \(output)")
        }
    }

    /// The typos the issue lists, each flagged at its place.
    @Test(arguments: [
        (
            "rules", "version: 1\nroutes:\n  - name: a\n    whne: { message.message_type: TEXT }\n    deliver: as_is\n",
            "routes/0: Additional properties are not allowed ('whne' was unexpected)"
        ),
        (
            "rules",
            "version: 1\nroutes:\n  - name: a\n    select: {}\n    otherwise: { whne: { sender.online: true }, drop: x }\n",
            "routes/0/otherwise: Additional properties are not allowed ('whne' was unexpected)"
        ),
        ("registry", "agents: [{ agent_id: a, is_onlin: true }]\n", "('is_onlin' was unexpected)"),
        (
            "registry", "agents: [{ agent_id: a, is_online: yes }]\n",
            "agents/0/is_online: 'yes' is not of type 'boolean'"
        ),
        (
            "rule-tests", "cases:\n  - message: { message_type: TEXT }\n    expect: { rout: a }\n",
            "cases/0/expect: Additional properties are not allowed ('rout' was unexpected)"
        ),
        ("rule-tests", "now: \"09:30\"\ncases: []\n", "now: '09:30' does not match"),
        (
            "rule-tests", "registry: { agents: [{ agent_id: a, is_onlin: true }] }\ncases: []\n",
            "registry/agents/0: Additional properties are not allowed ('is_onlin' was unexpected)"
        ),
        ("config", "prefetc: 10\n", "('prefetc' was unexpected)"),
        ("config", "stale-policy: sometimes\n", "stale-policy: 'sometimes' is not one of"),
        ("config", "watch-rules: \"no\"\n", "watch-rules: 'no' is not of type 'boolean'"),
    ])
    func typosAreFlagged(schema: String, text: String, problem: String) async throws {
        let file = try file(schema, text)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try await check([file.path])
        #expect(status == 1, "\(output)")
        #expect(output.contains(problem), "\(output)")
    }

    /// The config schema knows exactly `broker run`'s options, so it cannot fall behind them.
    @Test func theConfigSchemaHasEveryRunOptionAndNoOther() async throws {
        let schema = try JSONSerialization.jsonObject(
            with: Data(contentsOf: repositoryRoot.appendingPathComponent("schemas/config.schema.json")))
        let properties = try #require((schema as? [String: Any])?["properties"] as? [String: Any])
        let help = try await runProcess(brokerExecutable, ["run", "--experimental-dump-help"])
        let tool = try #require(try JSONSerialization.jsonObject(with: Data(help.output.utf8)) as? [String: Any])
        let arguments = try #require((tool["command"] as? [String: Any])?["arguments"] as? [[String: Any]])
        let names = Set(
            arguments.compactMap { argument in
                (argument["names"] as? [[String: Any]])?.compactMap { $0["name"] as? String }.last
            }
        )
        // --memory-budget is an action (print and exit), not a setting.
        .filter { !$0.hasPrefix("no-") && !["config", "help", "version", "memory-budget"].contains($0) }
        #expect(Set(properties.keys) == names)
    }

    /// An option only one transport has stands under that transport's heading in `--help`, and
    /// its config schema entry names the transport: an operator on another transport can skip it.
    @Test func transportOptionsAreGroupedByTransportInHelpAndSchema() async throws {
        let schema = try JSONSerialization.jsonObject(
            with: Data(contentsOf: repositoryRoot.appendingPathComponent("schemas/config.schema.json")))
        let properties = try #require((schema as? [String: Any])?["properties"] as? [String: [String: Any]])
        let help = try await runProcess(brokerExecutable, ["run", "--experimental-dump-help"])
        let tool = try #require(try JSONSerialization.jsonObject(with: Data(help.output.utf8)) as? [String: Any])
        let arguments = try #require((tool["command"] as? [String: Any])?["arguments"] as? [[String: Any]])
        var sections: [String: String] = [:]
        for argument in arguments {
            guard let name = (argument["names"] as? [[String: Any]])?.compactMap({ $0["name"] as? String }).last
            else { continue }
            sections[name] = argument["sectionTitle"] as? String
        }
        let rabbitMQ = Set(sections.filter { $0.value.hasPrefix("RabbitMQ transport") }.keys)
        #expect(rabbitMQ == ["queue-type", "delivery-limit", "single-active-consumer", "confirm-timeout"])
        for (name, property) in properties {
            let description = property["description"] as? String ?? ""
            #expect(
                description.hasPrefix("RabbitMQ transport") == rabbitMQ.contains(name),
                "\(name): the schema says '\(description)'")
        }
    }

    /// The schemas are draft-07 through and through (checked by the script on every run).
    @Test func aSchemaUsingALaterDraftIsRefused() async throws {
        let schema = FileManager.default.temporaryDirectory.appendingPathComponent("later-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: schema) }
        try #"{"$schema": "http://json-schema.org/draft-07/schema#", "unevaluatedProperties": false}"#.write(
            to: schema, atomically: true, encoding: .utf8)
        let file = try file("config", "prefetch: 1\n")
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try await check(["--schema", schema.path, file.path])
        #expect(status != 0)
        #expect(output.contains("keywords a draft-07 validator ignores: #/unevaluatedProperties"), "\(output)")
    }
}
