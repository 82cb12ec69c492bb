import Foundation
import TestSupport
import Testing

/// `schemas/rules.schema.json` accepts every shipped rule file and rejects broken ones, as
/// editors using it would (checked with Python's jsonschema, Draft 2020-12).
@Suite struct SchemaTests {
    func check(_ files: [String]) async throws -> (Int32, String) {
        try await runCommand("/usr/bin/env", ["python3", "scripts/check-schema.py"] + files)
    }

    @Test func everyShippedRuleFileIsValidAgainstTheSchema() async throws {
        let root = CLITests.root.path
        let files = try ["rules", "rules/examples"].flatMap { directory in
            try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(directory)").filter { $0.hasSuffix(".yaml") }
                .map { "\(directory)/\($0)" }
        }
        #expect(files.count >= 6)
        let (status, output) = try await check(files)
        #expect(status == 0, "\(output)")
        #expect(output.contains("\(files.count) file(s) checked, 0 problem(s)"))
    }

    @Test func theSchemaRejectsWhatTheValidatorRejects() async throws {
        for file in ["unknown-keys", "type-errors", "structure"] {
            let (status, output) = try await check(["Tests/RoutingRulesTests/Corpus/broken/\(file).yaml"])
            #expect(status == 1, "\(file): \(output)")
        }
    }
}
