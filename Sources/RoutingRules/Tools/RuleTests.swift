import BrokerCore
import Foundation

/// A rule test file: cases of registry + message → expected outcome (`broker test-rules`).
public struct RuleTestFile: Sendable {
    public var name: String
    /// The rules to test (relative paths resolved against the test file), unless overridden.
    public var rules: String?
    /// The instant `within` tests compare against in every case that pins none of its own.
    public var now: Date?
    public var cases: [RuleTestCase]
}

/// One test case.
public struct RuleTestCase: Sendable {
    public var name: String
    public var location: SourceLocation
    public var registry: AgentRegistry.Snapshot
    public var message: [UInt8]
    /// The instant `within` tests compare against: the case's `now:`, else the file's.
    public var now: Date?
    var expect: [(key: String, value: YAMLNode)]
}

/// What running one case found.
public struct RuleTestResult: Sendable {
    /// What differs from the expectations (empty when the case passes).
    public var failures: [String]
    public var passed: Bool { failures.isEmpty }
    /// The decoded message and what the rules did with it (nil when it cannot be decoded).
    public var message: Message?
    public var explanation: Explanation?
    /// The instant the case ran at.
    public var now: Date
}

/// Parsing and running rule tests.
public enum RuleTests {
    static let expectKeys = [
        "route", "agent", "agent_in", "agents", "output", "message", "fields", "absent", "error_to_server",
        "dead_letter", "drop", "status_update", "decode_error",
    ]

    /// Parses a test file.
    public static func parse(_ bytes: [UInt8], name: String) throws(YAMLData.Failure) -> RuleTestFile {
        var sink = DiagnosticSink()
        guard let root = YAMLLoader.load(bytes, file: name, limits: RuleFileLimits(), into: &sink) else {
            throw YAMLData.Failure(diagnostics: sink.diagnostics)
        }
        var parser = RuleParser()
        var file = RuleTestFile(name: name, rules: nil, now: nil, cases: [])
        var defaultRegistry = AgentRegistry.Snapshot(agents: [])
        var caseNodes: [YAMLNode] = []
        if let pairs = parser.mapping(root, "a rule test file") {
            for (key, value) in parser.checkedPairs(
                pairs, allowed: ["rules", "now", "registry", "cases"], context: "test file")
            {
                switch key {
                case "rules":
                    file.rules = RuleTestFileCheck.text(value, "'rules'", into: &sink).map {
                        resolve($0, relativeTo: name)
                    }
                case "now": file.now = instant(value, into: &sink)
                case "registry":
                    do { defaultRegistry = try YAMLData.registry(from: value, name: name) } catch {
                        sink.append(contentsOf: error.diagnostics)
                    }
                default:
                    if case .sequence(let items) = value.kind {
                        caseNodes = items
                    } else {
                        sink.error(value.location, "'cases' must be a list")
                    }
                }
            }
        }
        for node in caseNodes {
            guard let pairs = parser.mapping(node, "a test case") else { continue }
            var testCase = RuleTestCase(
                name: "case at line \(node.location.line)", location: node.location, registry: defaultRegistry,
                message: [], now: file.now, expect: [])
            var sawMessage = false
            for (key, value) in parser.checkedPairs(
                pairs, allowed: ["name", "now", "registry", "message", "message_json", "expect"], context: "test case")
            {
                switch key {
                case "name": testCase.name = RuleTestFileCheck.text(value, "'name'", into: &sink) ?? testCase.name
                case "now": testCase.now = instant(value, into: &sink) ?? file.now
                case "registry":
                    do { testCase.registry = try YAMLData.registry(from: value, name: name) } catch {
                        sink.append(contentsOf: error.diagnostics)
                    }
                case "message":
                    sawMessage = true
                    if RuleTestFileCheck.message(value, into: &sink) { testCase.message = JSONWriter.bytes(value.json) }
                case "message_json":
                    sawMessage = true
                    testCase.message = Array((RuleTestFileCheck.text(value, "'message_json'", into: &sink) ?? "").utf8)
                default:
                    if let expectations = parser.mapping(value, "'expect'") {
                        testCase.expect = parser.checkedPairs(expectations, allowed: expectKeys, context: "'expect'")
                            .map { (key: $0.0, value: $0.1) }
                        for (key, value) in testCase.expect { RuleTestFileCheck.expectation(key, value, into: &sink) }
                    }
                }
            }
            if !sawMessage {
                sink.error(node.location, "test case '\(testCase.name)' has no 'message' or 'message_json'")
            }
            if testCase.expect.isEmpty { sink.error(node.location, "test case '\(testCase.name)' has no expectations") }
            file.cases.append(testCase)
        }
        sink.append(contentsOf: parser.sink.diagnostics)
        if sink.hasErrors { throw YAMLData.Failure(diagnostics: sink.diagnostics) }
        return file
    }

    /// A `now:` value: an ISO-8601 date-time (a bare time of day would depend on the clock).
    private static func instant(_ node: YAMLNode, into sink: inout DiagnosticSink) -> Date? {
        if let text = node.text, let date = Timestamp.dateTime(text) { return date }
        sink.error(
            node.location,
            "'now' must be an ISO-8601 date-time such as 2026-12-01T09:30:00Z, found \(node.scalar != nil ? "'\(node.text ?? "")'" : node.kindDescription)"
        )
        return nil
    }

    static func resolve(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        let directory = (file as NSString).deletingLastPathComponent
        if directory.isEmpty { return path }
        // `rules/tests/../default.yaml` is `rules/default.yaml` (the name diagnostics show); a
        // test file named by an absolute path names its rules by one too (`/..` is `/`).
        let absolute = directory.hasPrefix("/")
        var parts: [Substring] = []
        for part in (directory + "/" + path).split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !absolute {
                    parts.append(part)
                }
            default: parts.append(part)
            }
        }
        return (absolute ? "/" : "") + parts.joined(separator: "/")
    }

    /// Runs one case at its own `now`, else at `now`, else at the clock's time.
    public static func run(_ testCase: RuleTestCase, ruleSet: RuleSet, now: Date? = nil) -> RuleTestResult {
        let instant = testCase.now ?? now ?? Date()
        var random = FastRandom(seed: 0x5EED)
        let message: Message
        do {
            message = try Message(decoding: testCase.message)
        } catch {
            var failures: [String] = []
            if let expected = testCase.expect.first(where: { $0.key == "decode_error" })?.value.text {
                if expected != error.reasonCode {
                    failures = ["decode_error: expected \(expected), got \(error.reasonCode) (\(error))"]
                }
            } else {
                failures = ["the message cannot be decoded: \(error)"]
            }
            return RuleTestResult(failures: failures, message: nil, explanation: nil, now: instant)
        }
        let explanation = ruleSet.explain(message, in: testCase.registry, random: &random, now: instant)
        let failures = check(testCase, explanation.decision)
        return RuleTestResult(failures: failures, message: message, explanation: explanation, now: instant)
    }

    /// What in `decision` differs from the expectations of `testCase`.
    private static func check(_ testCase: RuleTestCase, _ decision: Decision) -> [String] {
        var failures: [String] = []
        let deliveries = decision.deliveries
        let first = deliveries.first
        for (key, node) in testCase.expect {
            let expected = node.json
            switch key {
            case "route":
                let actual = decision.route ?? "(no route matched)"
                if expected.templateText != actual { failures.append(mismatch("route", expected.templateText, actual)) }
            case "agent":
                let actual = first?.agentID ?? "(none)"
                if expected.templateText != actual { failures.append(mismatch("agent", expected.templateText, actual)) }
            case "agent_in":
                let allowed = (expected.arrayValue ?? []).map(\.templateText)
                let actual = first?.agentID ?? "(none)"
                if !allowed.contains(actual) {
                    failures.append(mismatch("agent (one of)", allowed.joined(separator: ", "), actual))
                }
            case "agents":
                let wanted = (expected.arrayValue ?? []).map(\.templateText)
                let actual = deliveries.compactMap(\.agentID)
                if Set(wanted) != Set(actual) || wanted.count != actual.count {
                    failures.append(mismatch("agents", wanted.joined(separator: ", "), actual.joined(separator: ", ")))
                }
            case "output":
                let actual = first.map { "\($0.destination)" } ?? "(nothing published)"
                if expected.templateText != actual {
                    failures.append(mismatch("output", expected.templateText, actual))
                }
            case "message":
                let want = expected.objectValue.map { JSONWriter.string(.object($0)) } ?? expected.templateText
                let actual = first?.message.jsonText ?? "(nothing published)"
                if want != actual { failures.append("message differs:\n    - \(want)\n    + \(actual)") }
            case "fields":
                for entry in expected.objectValue ?? JSONObject() {
                    let actual = first?.message.body[entry.key]
                    if actual != entry.value {
                        failures.append(
                            mismatch(
                                "field \(entry.key)", JSONWriter.string(entry.value),
                                actual.map(JSONWriter.string) ?? "(absent)"))
                    }
                }
            case "absent":
                for name in (expected.arrayValue ?? [expected]).map(\.templateText)
                where first?.message.body[name] != nil {
                    failures.append(
                        "field \(name): expected absent, found \(JSONWriter.string(first!.message.body[name]!))")
                }
            case "error_to_server":
                let actual = first.flatMap {
                    $0.message.messageType == "ERROR" && $0.message.receiverID == "Server"
                        ? $0.message[string: MessageKey.routingStatus] : nil
                }
                if actual != expected.templateText {
                    failures.append(
                        mismatch("error to server", expected.templateText, actual ?? Explanation.describe(decision)))
                }
            case "dead_letter":
                if case .deadLetter(let reason, _) = decision.outcome {
                    if case .string(let text) = expected, !reason.contains(text) {
                        failures.append(mismatch("dead-letter reason", text, reason))
                    }
                } else {
                    failures.append(mismatch("outcome", "dead letter", Explanation.describe(decision)))
                }
            case "drop":
                if case .drop = decision.outcome {
                } else {
                    failures.append(mismatch("outcome", "drop", Explanation.describe(decision)))
                }
            case "status_update":
                if decision.outcome != .statusUpdate {
                    failures.append(mismatch("outcome", "status update", Explanation.describe(decision)))
                }
            case "decode_error":
                failures.append(mismatch("decode error", expected.templateText, "the message decoded"))
            default: break
            }
        }
        return failures
    }

    static func mismatch(_ what: String, _ expected: String, _ actual: String) -> String {
        "\(what):\n    - expected: \(expected)\n    + actual:   \(actual)"
    }
}

extension JSONValue {
    var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }
}
