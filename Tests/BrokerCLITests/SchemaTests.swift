import Foundation
import Testing

/// `schemas/rules.schema.json` accepts every shipped rule file and rejects broken ones, as
/// editors using it would (checked with Python's jsonschema, Draft 2020-12).
@Suite struct SchemaTests {
    func check(_ files: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "scripts/check-schema.py"] + files
        process.currentDirectoryURL = CLITests.root
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func everyShippedRuleFileIsValidAgainstTheSchema() throws {
        let root = CLITests.root.path
        let files = try ["rules", "rules/examples"].flatMap { directory in
            try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(directory)").filter { $0.hasSuffix(".yaml") }
                .map { "\(directory)/\($0)" }
        }
        #expect(files.count >= 6)
        let (status, output) = try check(files)
        #expect(status == 0, "\(output)")
        #expect(output.contains("\(files.count) file(s) checked, 0 problem(s)"))
    }

    @Test func theSchemaRejectsWhatTheValidatorRejects() throws {
        for file in ["unknown-keys", "type-errors", "structure"] {
            let (status, output) = try check(["Tests/RoutingRulesTests/Corpus/broken/\(file).yaml"])
            #expect(status == 1, "\(file): \(output)")
        }
    }
}
