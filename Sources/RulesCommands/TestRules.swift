import ArgumentParser
import BrokerCLISupport
import BrokerCore
import Foundation
import RoutingRules

/// `broker test-rules`: run rule test cases, show failures with what the rules did, and measure
/// which routes, branches and `otherwise` links the cases exercise.
public struct TestRules: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "test-rules",
        abstract: "Run rule test cases (registry + message → expected outcome), with coverage.",
        discussion: """
            Each test file may name its rules with 'rules:' (relative to the file); --rules \
            overrides that for every file. 'within' tests compare against the case's 'now:', else \
            the file's 'now:', else --now, else the clock. Exit status: 0 when all cases pass (and \
            coverage reaches --fail-under), 1 when any fails (or coverage is under it), 2 for a \
            usage, I/O or rule error.
            """
    )

    @Option(help: "Rule file or directory to test against (overrides each test file's 'rules:').")
    var rules: String?

    @Argument(help: "Test files or directories of test files.")
    var tests: [String] = ["rules/tests"]

    @Option(
        help: ArgumentHelp(
            "The instant 'within' tests compare against where no 'now:' is pinned (default: the clock).",
            valueName: "ISO-8601 date-time"))
    var now: String?

    @Flag(help: "Report which routes, 'when' branches and 'otherwise' links the cases exercise.")
    var coverage = false

    @Option(
        help: ArgumentHelp(
            "Fail (exit 1) when coverage is under this percentage (implies --coverage).", valueName: "percent"))
    var failUnder: Double?

    @Option(help: "Output format: text, json, junit (JUnit XML) or github (workflow annotations).")
    var format: TestReportFormat = .text

    @Flag(name: .shortAndLong, help: "List every case, not only failures (text).")
    var verbose = false

    public init() {}

    public func validate() throws {
        if let now, Timestamp.dateTime(now) == nil {
            throw ValidationError("--now must be an ISO-8601 date-time such as 2026-12-01T09:30:00Z, not '\(now)'")
        }
        if let failUnder, !(0...100).contains(failUnder) {
            throw ValidationError("--fail-under takes a percentage from 0 to 100, not \(failUnder)")
        }
    }

    public func run() throws {
        let files: [String]
        do {
            files = try RuleSetLoader.sourceFiles(tests)
        } catch {
            printError("error: \(error)")
            throw ExitCode(Status.usage)
        }
        let measuring = coverage || failUnder != nil
        var report = TestReport()
        var ruleSets: [String: RuleSet] = [:]
        for file in files {
            let testFile = try parse(file)
            guard let rulesPath = rules ?? testFile.rules else {
                printError("error: \(file): no rules to test: add 'rules:' to the file or pass --rules")
                throw ExitCode(Status.usage)
            }
            let ruleSet = try ruleSets[rulesPath] ?? loadRuleSet(rulesPath, annotating: format == .github)
            ruleSets[rulesPath] = ruleSet
            if measuring { report.measure(ruleSet, from: rulesPath) }
            for testCase in testFile.cases {
                let result = RuleTests.run(testCase, ruleSet: ruleSet, now: now.flatMap(Timestamp.dateTime))
                report.cases.append(.init(file: file, testCase: testCase, result: result, ruleSet: ruleSet))
                if measuring, let explanation = result.explanation, let message = result.message {
                    report.record(
                        explanation, message: message, snapshot: testCase.registry, now: result.now, in: rulesPath)
                }
            }
        }
        print(report.render(format, verbose: verbose, coverage: measuring))
        if let failUnder, report.percent < failUnder {
            printError(
                "coverage \(TestReport.percentText(report.percent)) is under the required \(TestReport.percentText(failUnder))"
            )
            throw ExitCode(Status.failed)
        }
        if report.failed > 0 { throw ExitCode(Status.failed) }
    }

    private func parse(_ file: String) throws -> RuleTestFile {
        guard let data = readFile(file) else {
            printError("error: \(file): cannot read file")
            throw ExitCode(Status.usage)
        }
        do {
            return try RuleTests.parse([UInt8](data), name: file)
        } catch {
            report(error.diagnostics, annotating: format == .github)
            throw ExitCode(Status.usage)
        }
    }
}

/// How `test-rules` prints its results.
enum TestReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, junit, github
}
