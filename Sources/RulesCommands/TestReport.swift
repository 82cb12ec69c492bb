import BrokerCore
import Foundation
import RoutingRules

/// The results of one `test-rules` run, rendered as text, JSON, JUnit XML or GitHub annotations.
struct TestReport {
    /// One case and what running it found.
    struct Case {
        var file: String
        var testCase: RuleTestCase
        var result: RuleTestResult
        var ruleSet: RuleSet
    }

    var cases: [Case] = []
    /// Per rule set (by the path it was loaded from), what the cases exercised.
    private var coverageByRules: [String: RuleCoverage] = [:]
    /// The rule sets measured, in the order first met.
    private var measuredRules: [String] = []

    /// What the cases exercised, per rule set in the order first met.
    var coverage: [(rules: String, coverage: RuleCoverage)] {
        measuredRules.map { ($0, coverageByRules[$0]!) }
    }

    /// Starts measuring the coverage of `ruleSet` (loaded from `rules`), once.
    mutating func measure(_ ruleSet: RuleSet, from rules: String) {
        guard coverageByRules[rules] == nil else { return }
        coverageByRules[rules] = RuleCoverage(ruleSet: ruleSet)
        measuredRules.append(rules)
    }

    /// Records what one case's run exercised in the rule set loaded from `rules`.
    mutating func record(
        _ explanation: Explanation, message: Message, snapshot: AgentRegistry.Snapshot, now: Date?,
        in rules: String
    ) {
        coverageByRules[rules]?.record(explanation, message: message, snapshot: snapshot, now: now)
    }

    var failed: Int { cases.filter { !$0.result.passed }.count }
    var passed: Int { cases.count - failed }
    var coveredItems: Int { coverage.reduce(0) { $0 + $1.coverage.covered.count } }
    var totalItems: Int { coverage.reduce(0) { $0 + $1.coverage.items.count } }
    /// Exercised items of every rule set as a percentage of all their items.
    var percent: Double { totalItems == 0 ? 100 : Double(coveredItems) * 100 / Double(totalItems) }

    static func percentText(_ value: Double) -> String { String(format: "%.1f%%", value) }

    func render(_ format: TestReportFormat, verbose: Bool, coverage measured: Bool) -> String {
        switch format {
        case .text: text(verbose: verbose, coverage: measured)
        case .json: JSONWriter.string(json(coverage: measured))
        case .junit: junit()
        case .github: github(coverage: measured)
        }
    }

    // MARK: text

    private func text(verbose: Bool, coverage measured: Bool) -> String {
        var lines: [String] = []
        for item in cases {
            let title = "\(item.testCase.location) \(item.testCase.name)"
            if item.result.passed {
                if verbose { lines.append("PASS \(title)") }
                continue
            }
            lines.append("FAIL \(title)")
            lines += item.result.failures.map { "  " + $0 }
            lines += trace(item).map { "  " + $0 }
        }
        if measured { lines += coverageText() }
        lines.append("\(passed) passed, \(failed) failed")
        return lines.joined(separator: "\n")
    }

    /// What the rules did in a failing case: the explain trace, as `broker explain` prints it.
    private func trace(_ item: Case) -> [String] {
        guard let explanation = item.result.explanation else { return [] }
        return ["what happened (at \(Self.iso(item.result.now))):"]
            + explanation.render(all: false).split(separator: "\n", omittingEmptySubsequences: false).map {
                "  " + $0
            }
    }

    private func coverageText() -> [String] {
        var lines: [String] = []
        for (rules, coverage) in coverage {
            let kinds = RuleCoverage.Kind.allCases.map { kind in
                let count = coverage.count(kind)
                return "\(Self.plural(kind)) \(count.covered)/\(count.total)"
            }
            lines.append(
                "coverage of \(rules): \(Self.percentText(coverage.percent)) (\(kinds.joined(separator: ", ")))")
            for item in coverage.missed {
                lines.append("  not exercised: \(item.location): \(item.route): \(item.description)")
            }
        }
        lines.append("coverage in all: \(Self.percentText(percent)) (\(coveredItems) of \(totalItems) items)")
        return lines
    }

    private static func plural(_ kind: RuleCoverage.Kind) -> String {
        switch kind {
        case .route: "routes"
        case .branch: "branches"
        case .otherwise: "otherwise links"
        }
    }

    private static func iso(_ date: Date) -> String {
        var style = Date.ISO8601FormatStyle()
        style.timeZone = TimeZone(identifier: "UTC")!
        return date.formatted(style)
    }

    // MARK: JSON

    private func json(coverage measured: Bool) -> JSONValue {
        var root = JSONObject()
        root["version"] = .number(JSONNumber(1))
        root["passed"] = .number(JSONNumber(passed))
        root["failed"] = .number(JSONNumber(failed))
        root["cases"] = .array(
            cases.map { item in
                var object = JSONObject([
                    ("file", .string(item.file)), ("line", .number(JSONNumber(item.testCase.location.line))),
                    ("column", .number(JSONNumber(item.testCase.location.column))),
                    ("name", .string(item.testCase.name)), ("passed", .bool(item.result.passed)),
                    ("now", .string(Self.iso(item.result.now))),
                    ("failures", .array(item.result.failures.map(JSONValue.string))),
                ])
                if !item.result.passed, let explanation = item.result.explanation, let message = item.result.message {
                    object["explain"] = explanation.json(
                        ruleSet: item.ruleSet, snapshot: item.testCase.registry, message: message)
                }
                return .object(object)
            })
        if measured {
            root["coverage"] = .object(
                JSONObject([
                    ("percent", .number(JSONNumber(percent))), ("covered", .number(JSONNumber(coveredItems))),
                    ("total", .number(JSONNumber(totalItems))),
                    ("rule_sets", .array(coverage.map { Self.json(rules: $0.rules, $0.coverage) })),
                ]))
        }
        return .object(root)
    }

    private static func json(rules: String, _ coverage: RuleCoverage) -> JSONValue {
        let items: [JSONValue] = coverage.items.map { item in
            .object(
                JSONObject([
                    ("kind", .string(item.kind.rawValue)), ("route", .string(item.route)),
                    ("description", .string(item.description)), ("location", .string(item.location.description)),
                    ("hits", .number(JSONNumber(item.hits))),
                ]))
        }
        return .object(
            JSONObject([
                ("rules", .string(rules)), ("percent", .number(JSONNumber(coverage.percent))),
                ("covered", .number(JSONNumber(coverage.covered.count))),
                ("total", .number(JSONNumber(coverage.items.count))), ("items", .array(items)),
            ]))
    }

    // MARK: JUnit XML

    private func junit() -> String {
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<testsuites name="test-rules" tests="\#(cases.count)" failures="\#(failed)">"#,
        ]
        var files: [String] = []
        for item in cases where !files.contains(item.file) { files.append(item.file) }
        for file in files {
            let inFile = cases.filter { $0.file == file }
            let failures = inFile.filter { !$0.result.passed }.count
            lines.append(
                #"  <testsuite name="\#(Self.xml(file))" tests="\#(inFile.count)" failures="\#(failures)" errors="0">"#)
            for item in inFile {
                let location = item.testCase.location
                let attributes =
                    #"name="\#(Self.xml(item.testCase.name))" classname="\#(Self.xml(file))" file="\#(Self.xml(file))" line="\#(location.line)""#
                if item.result.passed {
                    lines.append("    <testcase \(attributes)/>")
                    continue
                }
                let body = (item.result.failures + trace(item)).joined(separator: "\n")
                let summary =
                    item.result.failures.first?.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    .joined(separator: " ") ?? "failed"
                lines.append("    <testcase \(attributes)>")
                lines.append(#"      <failure message="\#(Self.xml(summary))">\#(Self.xml(body))</failure>"#)
                lines.append("    </testcase>")
            }
            lines.append("  </testsuite>")
        }
        lines.append("</testsuites>")
        return lines.joined(separator: "\n")
    }

    private static func xml(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    // MARK: GitHub annotations

    private func github(coverage measured: Bool) -> String {
        var lines: [String] = []
        for item in cases where !item.result.passed {
            lines.append(
                GitHubAnnotation.line(
                    "error", at: item.testCase.location, title: "rule test failed: " + item.testCase.name,
                    message: (item.result.failures + trace(item)).joined(separator: "\n")))
        }
        if measured {
            for (_, coverage) in coverage {
                for item in coverage.missed {
                    lines.append(
                        GitHubAnnotation.line(
                            "notice", at: item.location, title: "not covered by a rule test",
                            message: "\(item.route): \(item.description)"))
                }
            }
            lines.append("coverage in all: \(Self.percentText(percent)) (\(coveredItems) of \(totalItems) items)")
        }
        lines.append("\(passed) passed, \(failed) failed")
        return lines.joined(separator: "\n")
    }
}
