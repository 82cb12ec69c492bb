import Foundation
import TestSupport
import Testing

/// The shipped CI recipe (`deploy/github-actions.yml`, whose check is `deploy/check-rules.sh`)
/// run as a rules repository's CI would run it, so it cannot rot.
@Suite(.timeLimit(.minutes(10))) struct RulesCIRecipeTests {
    static let root = CLITests.root
    static let workflow = root.appendingPathComponent("deploy/github-actions.yml")

    /// The workflow's steps: each `run:` command with its `env:`, in order.
    static func steps() throws -> [(run: String, env: [String: String])] {
        var steps: [(run: String, env: [String: String])] = []
        var inEnv = false
        var blockIndent: Int?
        for line in try String(contentsOf: workflow, encoding: .utf8).split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            let indent = line.prefix { $0 == " " }.count
            if let block = blockIndent, indent > block, !steps.isEmpty {
                // A line of a `run: |` block.
                steps[steps.count - 1].run += (steps[steps.count - 1].run.isEmpty ? "" : "\n") + text
                continue
            }
            blockIndent = nil
            if text.hasPrefix("- ") {
                inEnv = false
            } else if text == "run: |" {
                steps.append(("", [:]))
                blockIndent = indent
                inEnv = false
            } else if text.hasPrefix("run: ") {
                steps.append((String(text.dropFirst(5)), [:]))
                inEnv = false
            } else if text == "env:", !steps.isEmpty, line.hasPrefix("        ") {
                inEnv = true
            } else if inEnv, let colon = text.firstIndex(of: ":") {
                let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                steps[steps.count - 1].env[String(text[..<colon])] = value.trimmingCharacters(
                    in: CharacterSet(charactersIn: "\""))
            }
        }
        return steps
    }

    /// A rules repository checked out as the workflow expects: its `rules/`, and the broker in `.broker`.
    func workspace(rules: URL) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rules-repo-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: directory.appendingPathComponent("rules"), withDestinationURL: rules)
        try FileManager.default.createSymbolicLink(
            at: directory.appendingPathComponent(".broker"), withDestinationURL: Self.root)
        return directory
    }

    /// Writes each file (path relative to `root`: text), making the directories on the way.
    func write(_ files: [String: String], under root: URL) throws {
        for (path, text) in files {
            let file = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
    }

    /// Runs the workflow's check step in `directory` (with the debug build of broker-rules: the
    /// release build step is checked below, not repeated in every test run).
    func runCheckStep(in directory: URL) async throws -> (status: Int32, output: String) {
        let check = try #require(try Self.steps().last)
        var environment = ProcessInfo.processInfo.environment.merging(check.env) { $1 }
        environment["GITHUB_ACTIONS"] = "true"
        environment["BROKER_RULES_BIN"] = Self.root.appendingPathComponent(".build/debug/broker-rules").path
        return try await runCommand("/bin/bash", ["-c", check.run], environment: environment, in: directory)
    }

    @Test func theWorkflowBuildsOnlyTheRulesToolchainWithTheDocumentedSwift() async throws {
        let text = try String(contentsOf: Self.workflow, encoding: .utf8)
        #expect(text.contains("container: swift:6.3\n"))
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("Swift 6.3"))
        let steps = try Self.steps()
        #expect(steps.count == 2, "\(steps)")
        #expect(
            steps.first?.run.contains("swift build -c release --package-path .broker --product broker-rules") == true)
        #expect(steps.last?.run == ".broker/deploy/check-rules.sh rules rules/tests")
        #expect(steps.last?.env["BROKER_RULES_BIN"] == ".broker/.build/release/broker-rules")
        #expect(steps.last?.env["RULES_COVERAGE_MIN"] == "90")
    }

    @Test func theCheckPassesOnTheShippedRules() async throws {
        let directory = try workspace(rules: Self.root.appendingPathComponent("rules"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try await runCheckStep(in: directory)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("coverage in all: 100.0%"), "\(run.output)")
        #expect(run.output.contains("40 passed, 0 failed"))
    }

    /// A typo in a route and an untested route: annotations for both, and the job fails.
    @Test func theCheckFailsWithAnnotationsOnATypoAndOnMissingCoverage() async throws {
        let rules = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID())")
        defer { try? FileManager.default.removeItem(at: rules) }
        try write(
            [
                "routes.yaml": """
                version: 1
                routes:
                  - name: texts
                    whne: { message.message_type: TEXT }
                    deliver: as_is
                """,
                "other/tested.yaml": """
                version: 1
                routes:
                  - name: texts
                    when: { message.message_type: TEXT }
                    deliver: as_is
                  - name: replies
                    when: { message.message_type: REPLY }
                    deliver: as_is
                """,
                "tests/cases.yaml": """
                rules: ../other/tested.yaml
                cases:
                  - name: texts are delivered as they are
                    message: { message_type: TEXT }
                    expect: { route: texts }
                """,
            ], under: rules)
        let directory = try workspace(rules: rules)
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try await runCheckStep(in: directory)
        #expect(run.status == 1, "\(run.output)")
        #expect(run.output.contains("::error file=rules/routes.yaml,line=4,col=5::"), "\(run.output)")
        #expect(run.output.contains("did you mean 'when'"), "\(run.output)")
        #expect(run.output.contains("::notice file=rules/other/tested.yaml,line=6,col=5,title=not covered"))
        #expect(run.output.contains("coverage 33.3% is under the required 90.0%"), "\(run.output)")
    }
}
