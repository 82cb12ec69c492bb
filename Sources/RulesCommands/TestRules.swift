import ArgumentParser
import BrokerCLISupport
import Foundation
import RoutingRules

/// `broker test-rules`: run rule test cases and show failures as diffs.
public struct TestRules: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "test-rules",
        abstract: "Run rule test cases (registry + message → expected outcome).",
        discussion: """
            Each test file may name its rules with 'rules:' (relative to the file); --rules \
            overrides that for every file. Exit status: 0 when all cases pass, 1 when any fails, \
            2 for a usage, I/O or rule error.
            """
    )

    @Option(help: "Rule file or directory to test against (overrides each test file's 'rules:').")
    var rules: String?

    @Argument(help: "Test files or directories of test files.")
    var tests: [String] = ["rules/tests"]

    @Flag(name: .shortAndLong, help: "List every case, not only failures.")
    var verbose = false

    public init() {}

    public func run() throws {
        let files: [String]
        do {
            files = try RuleSetLoader.sourceFiles(tests)
        } catch {
            printError("error: \(error)")
            throw ExitCode(Status.usage)
        }
        var passed = 0
        var failed = 0
        var cache: [String: RuleSet] = [:]
        for file in files {
            guard let data = readFile(file) else {
                printError("error: \(file): cannot read file")
                throw ExitCode(Status.usage)
            }
            let testFile: RuleTestFile
            do {
                testFile = try RuleTests.parse([UInt8](data), name: file)
            } catch {
                printError(error.description)
                throw ExitCode(Status.usage)
            }
            guard let rulesPath = rules ?? testFile.rules else {
                printError("error: \(file): no rules to test: add 'rules:' to the file or pass --rules")
                throw ExitCode(Status.usage)
            }
            let ruleSet = try cache[rulesPath] ?? loadRuleSet(rulesPath)
            cache[rulesPath] = ruleSet
            for testCase in testFile.cases {
                let failures = RuleTests.run(testCase, ruleSet: ruleSet)
                if failures.isEmpty {
                    passed += 1
                    if verbose { print("PASS \(testCase.location) \(testCase.name)") }
                } else {
                    failed += 1
                    print("FAIL \(testCase.location) \(testCase.name)")
                    for failure in failures { print("  " + failure) }
                }
            }
        }
        print("\(passed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(Status.failed) }
    }

}
