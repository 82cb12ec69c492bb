import Foundation
import TestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// `broker test-rules` as CI runs it: pinned time, coverage with a threshold, the explain trace
/// of a failing case, and output for JUnit and GitHub.
extension CLITests {
    /// A directory with one test file of `text` (its rules are named by absolute path).
    func ruleTestFile(_ text: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rule-tests-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("cases.yaml")
        let rules = Self.root.appendingPathComponent("rules/examples/escalation.yaml").path
        try "rules: \(rules)\n\(text)".write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// One urgent message, and a senior seen at 09:29: recent at 09:30, not at 09:40.
    static let urgentCase = """
        registry:
          agents: [{ agent_id: agent_s, is_online: true, last_seen: "2026-12-01T09:29:00Z", metrics: { level: senior, load: "0.2" } }]
        cases:
          - name: a recent senior takes it
            message: { message_type: TEXT, sender_id: web_1, priority: 5 }
            expect: { route: urgent-senior-recent, agent: agent_s }

        """

    @Test func shippedRuleTestsCoverEveryRouteBranchAndOtherwiseLink() async throws {
        let run = try await broker(["test-rules", "--coverage", "--fail-under", "100", "rules/tests"])
        #expect(run.status == 0, "\(run.output)\(run.error)")
        #expect(run.output.contains("coverage of rules/examples/escalation.yaml: 100.0%"), "\(run.output)")
        #expect(run.output.contains("coverage in all: 100.0% (72 of 72 items)"), "\(run.output)")
    }

    /// CI jobs pass test files by absolute path: `rules: fb.yaml` is beside the test file either
    /// way (it lost the leading `/` and was looked up relative to the working directory).
    @Test func aTestFileNamesItsRulesRelativeToItselfWhetherNamedAbsolutelyOrNot() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rules-ci-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let rules = try String(
            contentsOf: Self.root.appendingPathComponent("rules/examples/escalation.yaml"), encoding: .utf8)
        try rules.write(to: directory.appendingPathComponent("fb.yaml"), atomically: true, encoding: .utf8)
        let tests = directory.appendingPathComponent("tests.yaml")
        try ("rules: fb.yaml\nnow: 2026-12-01T09:30:00Z\n" + Self.urgentCase).write(
            to: tests, atomically: true, encoding: .utf8)
        let absolute = try await broker(["test-rules", tests.path])
        #expect(absolute.status == 0, "\(absolute.output)\(absolute.error)")
        #expect(absolute.output.contains("1 passed"), "\(absolute.output)")
        let relative = try await broker(["test-rules", "tests.yaml"], workingDirectory: directory)
        #expect(relative.status == 0, "\(relative.output)\(relative.error)")
        let dotted = try await broker([
            "test-rules", directory.path + "/./../" + directory.lastPathComponent + "/tests.yaml",
        ])
        #expect(dotted.status == 0, "\(dotted.output)\(dotted.error)")
        // --rules names the rules itself, relative to the working directory.
        let overridden = try await broker(
            ["test-rules", "--rules", "fb.yaml", tests.path], workingDirectory: directory)
        #expect(overridden.status == 0, "\(overridden.output)\(overridden.error)")
    }

    @Test func nowPinnedInTheFileTheCaseOrTheCommandLineDecidesWithin() async throws {
        let pinned = try ruleTestFile("now: 2026-12-01T09:30:00Z\n" + Self.urgentCase)
        defer { try? FileManager.default.removeItem(at: pinned.deletingLastPathComponent()) }
        #expect(try await broker(["test-rules", pinned.path]).status == 0)
        // The file's `now:` wins over --now; without one, --now decides; the clock (years later) fails.
        #expect(try await broker(["test-rules", "--now", "2026-12-01T09:40:00Z", pinned.path]).status == 0)
        let unpinned = try ruleTestFile(Self.urgentCase)
        defer { try? FileManager.default.removeItem(at: unpinned.deletingLastPathComponent()) }
        #expect(try await broker(["test-rules", "--now", "2026-12-01T09:30:00Z", unpinned.path]).status == 0)
        #expect(try await broker(["test-rules", "--now", "2026-12-01T09:40:00Z", unpinned.path]).status == 1)
        // A case's own `now:` wins over the file's.
        let late = Self.urgentCase.replacingOccurrences(
            of: "  - name: a recent senior takes it\n",
            with: "  - name: a recent senior takes it\n    now: 2026-12-01T09:40:00Z\n")
        let perCase = try ruleTestFile("now: 2026-12-01T09:30:00Z\n" + late)
        defer { try? FileManager.default.removeItem(at: perCase.deletingLastPathComponent()) }
        let run = try await broker(["test-rules", perCase.path])
        #expect(run.status == 1)
        #expect(run.output.contains("what happened (at 2026-12-01T09:40:00Z):"), "\(run.output)")
    }

    @Test func aTimeOfDayIsNotAPinnedNow() async throws {
        let file = try ruleTestFile("now: \"09:30:00\"\n" + Self.urgentCase)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let run = try await broker(["test-rules", file.path])
        #expect(run.status == 2)
        #expect(run.error.contains("\(file.path):2:6: error: 'now' must be an ISO-8601 date-time"), "\(run.error)")
        let flag = try await broker(["test-rules", "--now", "09:30", file.path])
        #expect(flag.status == 2)
        #expect(flag.error.contains("--now must be an ISO-8601 date-time"))
    }

    @Test func coverageNamesWhatNoCaseExercisedAndFailsUnderTheThreshold() async throws {
        let file = try ruleTestFile("now: 2026-12-01T09:30:00Z\n" + Self.urgentCase)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let run = try await broker(["test-rules", "--fail-under", "90", file.path])
        #expect(run.status == 1)
        #expect(run.error.contains("coverage 23.1% is under the required 90.0%"), "\(run.error)")
        let rules = "rules/examples/escalation.yaml"
        for missed in [
            "\(rules):10:5: urgent-senior-recent: any alternative 2 holds: message.text_payload matches",
            "\(rules):10:5: urgent-senior-recent: when fails",
            "\(rules):21:5: urgent-any-senior: otherwise → urgent-any-senior/otherwise",
            "\(rules):29:7: urgent-any-senior/otherwise: decides",
        ] {
            #expect(run.output.contains("not exercised: ") && run.output.contains(missed), "\(missed)\n\(run.output)")
        }
        #expect(!run.output.contains("urgent-senior-recent: decides"), "\(run.output)")
        #expect(try await broker(["test-rules", "--fail-under", "20", file.path]).status == 0)
    }

    /// A failing case shows what the rules did, in the words of `broker explain`.
    @Test func aFailingCasePrintsTheExplainTrace() async throws {
        // No load metric: the least-loaded strategy cannot choose the senior, so `otherwise` is followed.
        let text = Self.urgentCase.replacingOccurrences(of: ", load: \"0.2\"", with: "")
        let file = try ruleTestFile("now: 2026-12-01T09:30:00Z\n" + text)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let run = try await broker(["test-rules", "--coverage", file.path])
        #expect(run.status == 1)
        #expect(run.output.contains("+ actual:   urgent-any-senior"))
        // Taken but not deciding is not coverage of the route.
        #expect(run.output.contains("escalation.yaml:10:5: urgent-senior-recent: decides"), "\(run.output)")
        #expect(run.output.contains("    routes tried:\n      ✓ urgent-senior-recent ("), "\(run.output)")
        #expect(run.output.contains("the strategy chose none of them: following 'otherwise'"), "\(run.output)")
        #expect(run.output.contains("    decision: deliver (route 'urgent-any-senior'), agent agent_s"))
    }

    @Test func junitOutputIsWellFormedAndCountsTheCases() async throws {
        let text =
            Self.urgentCase + """
                  - name: a wrong expectation & a <tag>
                    message: { message_type: TEXT, sender_id: web_1 }
                    expect: { route: nowhere }

                """
        let file = try ruleTestFile("now: 2026-12-01T09:30:00Z\n" + text)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let run = try await broker(["test-rules", "--format", "junit", file.path])
        #expect(run.status == 1)
        let counter = XMLCounter()
        let parser = XMLParser(data: Data(run.output.utf8))
        parser.delegate = counter
        #expect(parser.parse(), "\(run.output)")
        #expect(counter.elements["testsuites"] == 1 && counter.elements["testsuite"] == 1)
        #expect(counter.elements["testcase"] == 2 && counter.elements["failure"] == 1)
        #expect(counter.attributes["testsuites"]?["failures"] == "1")
        #expect(counter.names.contains("a wrong expectation & a <tag>"))
    }

    @Test func jsonOutputHasTheDocumentedShape() async throws {
        let file = try ruleTestFile("now: 2026-12-01T09:30:00Z\n" + Self.urgentCase)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let run = try await broker(["test-rules", "--format", "json", "--coverage", file.path])
        #expect(run.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        #expect(object["version"] as? Int == 1 && object["passed"] as? Int == 1 && object["failed"] as? Int == 0)
        let cases = try #require(object["cases"] as? [[String: Any]])
        #expect(cases.first?["name"] as? String == "a recent senior takes it")
        #expect(cases.first?["now"] as? String == "2026-12-01T09:30:00Z")
        #expect(cases.first?["line"] as? Int == 6 && cases.first?["passed"] as? Bool == true)
        let coverage = try #require(object["coverage"] as? [String: Any])
        #expect(coverage["covered"] as? Int == 3 && coverage["total"] as? Int == 13)
        let sets = try #require(coverage["rule_sets"] as? [[String: Any]])
        let items = try #require(sets.first?["items"] as? [[String: Any]])
        #expect(Set(items.compactMap { $0["kind"] as? String }) == ["route", "branch", "otherwise"])
        #expect(items.allSatisfy { $0["location"] is String && $0["hits"] is Int && $0["description"] is String })
    }

    @Test func githubOutputAnnotatesFailuresAndWhatIsNotCovered() async throws {
        let text = Self.urgentCase.replacingOccurrences(
            of: "a recent senior takes it", with: "'one, wrong: on purpose'"
        )
        .replacingOccurrences(of: "agent: agent_s", with: "agent: agent_x")
        let file = try ruleTestFile("now: 2026-12-01T09:30:00Z\n" + text)
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let run = try await broker(["test-rules", "--format", "github", "--coverage", file.path])
        #expect(run.status == 1)
        let lines = run.output.split(separator: "\n")
        #expect(
            lines.first?.hasPrefix(
                "::error file=\(file.path),line=6,col=5,title=rule test failed%3A one%2C wrong%3A on purpose::agent:%0A"
            )
                == true, "\(run.output)")
        #expect(
            lines.contains {
                $0.hasPrefix("::notice file=")
                    && $0.contains(
                        "escalation.yaml,line=21,col=5,title=not covered by a rule test::urgent-any-senior: when fails")
            }, "\(run.output)")
    }

    /// `broker-rules` is the same toolchain: the same output and statuses as `broker`'s commands.
    @Test func brokerRulesIsTheSameToolchainOnItsOwn() async throws {
        let small = CLITests.root.appendingPathComponent(".build/debug/broker-rules")
        for arguments in [
            ["test-rules", "--coverage", "rules/tests"], ["validate-rules", "--format", "json", "rules"],
            [
                "explain", "--seed", "7", "--registry", "rules/registries/three-agents.yaml",
                #"{"message_type":"TEXT"}"#,
            ],
            ["test-rules", "--now", "nine"],
        ] {
            let full = try await broker(arguments)
            let alone = try await runProcess(small, arguments, in: CLITests.root)
            #expect(alone.status == full.status, "\(arguments)")
            #expect(alone.output == full.output, "\(arguments)")
        }
    }
}

/// Counts the elements of an XML document and keeps their attributes.
final class XMLCounter: NSObject, XMLParserDelegate {
    var elements: [String: Int] = [:]
    var attributes: [String: [String: String]] = [:]
    var names: [String] = []

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String]
    ) {
        elements[name, default: 0] += 1
        self.attributes[name] = attributes
        if let caseName = attributes["name"], name == "testcase" { names.append(caseName) }
    }
}
