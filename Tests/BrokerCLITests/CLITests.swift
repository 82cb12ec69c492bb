import Foundation
import TestSupport
import Testing

/// The `broker` command as users run it: real process, real files, exit statuses.
@Suite(.timeLimit(.minutes(10))) struct CLITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var binary: URL {
        let debug = root.appendingPathComponent(".build/debug/broker")
        if FileManager.default.fileExists(atPath: debug.path) { return debug }
        // swift test may build elsewhere; the executable sits beside the test bundle.
        return Bundle.main.bundleURL.appendingPathComponent("broker")
    }

    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs `broker` in the repository, or in `workingDirectory` (waiting off the cooperative
    /// pool: see `runProcess`).
    func broker(_ arguments: [String], input: String? = nil, workingDirectory: URL? = nil) async throws -> Run {
        let result = try await runProcess(Self.binary, arguments, input: input, in: workingDirectory ?? Self.root)
        return Run(status: result.status, output: result.output, error: result.error)
    }

    /// The version is the VERSION file's, a pre-release of it between releases, and names the
    /// commit: what the package, the image and `broker_build_info` say too.
    @Test func theVersionIsTheVersionFilesWithTheCommit() async throws {
        let release = try String(contentsOf: Self.root.appendingPathComponent("VERSION"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(release.wholeMatch(of: #/\d+\.\d+\.\d+/#) != nil, "VERSION is not a semantic version: \(release)")
        let (_, head) = try await runCommand("/usr/bin/git", ["-C", Self.root.path, "rev-parse", "--short=12", "HEAD"])
        let commit = head.trimmingCharacters(in: .whitespacesAndNewlines)
        let run = try await broker(["--version"])
        #expect(run.status == 0)
        let line = run.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let version = try #require(line.split(separator: " ").first.map(String.init), "\(line)")
        // 0.10.0 at its tag, else 0.10.0-dev.N+COMMIT (N: commits since the last tag).
        #expect(version == release || version.hasPrefix(release + "-dev."), "\(line)")
        #expect(line.contains("(commit \(commit)"), "\(line)")
        if version != release { #expect(version.contains("+\(commit)"), "\(line)") }
    }

    @Test func shippedRulesAreValidStrictly() async throws {
        for path in [
            "rules", "rules/examples/skills-least-loaded.yaml", "rules/examples/sticky-conversations.yaml",
            "rules/examples/per-agent-queues.yaml", "rules/examples/escalation.yaml",
            "rules/examples/strict-direct.yaml",
        ] {
            let run = try await broker(["validate-rules", "--strict", path])
            #expect(run.status == 0, "\(path): \(run.output)\(run.error)")
        }
    }

    /// The shipped config file parses as `broker run` options (flags included: `true` is the
    /// flag, `false` its `--no-` form), so the run fails only on what it then does.
    @Test func configFilesSetFlagsAndOptions() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID()).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try "rules: /nonexistent/rules\nstrict-rules: true\nwatch-rules: false\ndecision-traces: false\n"
            .write(to: file, atomically: true, encoding: .utf8)
        for config in [["--config", file.path], ["--config=" + file.path], ["--config", "deploy/broker.yaml"]] {
            let run = try await broker(
                ["run"] + config + ["--rules", "/nonexistent/rules", "--transport", "amqp://guest:guest@127.0.0.1:1/"])
            #expect(run.status != 0)
            #expect(run.error.contains("/nonexistent/rules: no such file or directory"), "\(config): \(run.error)")
        }
    }

    /// A URL without `://` kept the broker running with the password in its logs and in
    /// `/readyz`, or printed it on stderr: malformed URLs are refused at start, credentials hidden.
    @Test func malformedURLsAreRefusedWithoutTheirPassword() async throws {
        let base = ["run", "--rules", "rules/default.yaml", "--admin-address", "127.0.0.1:0", "--no-watch-rules"]
        let cases: [(arguments: [String], environment: [String: String])] = [
            (
                base + ["--transport", "amqp://guest:guest@127.0.0.1:1/"],
                ["WEBSOCKET_URL": "ws//ops:s3cret@127.0.0.1:8765/ws"]
            ),
            (
                base + [
                    "--transport", "amqp://guest:guest@127.0.0.1:1/", "--websocket-url", "ops:s3cret@127.0.0.1:8765",
                ], [:]
            ),
            (base + ["--registry", "rules/registries/three-agents.yaml"], ["RABBITMQ_URL": "guest:s3cret@127.0.0.1"]),
        ]
        for (arguments, environment) in cases {
            var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("RABBITMQ") }
            env.merge(environment) { $1 }
            let run = try await runProcess(Self.binary, arguments, environment: env, in: Self.root)
            #expect(run.status == 2, "\(arguments) \(environment): \(run.output)\(run.error)")
            #expect(!(run.output + run.error).contains("s3cret"), "\(run.error)")
            #expect(run.error.contains("***@127.0.0.1"), "\(run.error)")
        }
    }

    /// A bad setting is reported with the file and the key, as it was written there.
    @Test func configFileErrorsNameTheFileAndTheKey() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID()).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        let unknown =
            "\(file.path):2:1: error: unknown key 'prefetc' (the keys are broker run's long option names); did you mean 'prefetch'?"
        for (text, expected) in [
            ("# settings\nprefetc: 5\n", unknown),
            ("rules: r\nprefetch: lots\n", "\(file.path):2:11: error: 'prefetch': The value 'lots' is invalid"),
            ("rules: [a, b]\n", "\(file.path):1:8: error: 'rules' takes a single value, not a list or mapping"),
            ("- prefetch\n", "\(file.path):1:1: error: expected a mapping of option names to values, found a sequence"),
        ] {
            try text.write(to: file, atomically: true, encoding: .utf8)
            for form in [["--config", file.path], ["--config=" + file.path]] {
                let run = try await broker(["run"] + form)
                #expect(run.status == 2)
                #expect(run.error.contains(expected), "\(form) \(text): \(run.error)")
            }
        }
    }

    @Test func timingsNameEveryStageAndThePassesOfTheCompiler() async throws {
        let run = try await broker(["validate-rules", "--timings", "rules"])
        #expect(run.status == 0, "\(run.error)")
        let names = run.error.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .compactMap { line in
                line.range(of: #"^[A-Za-z, ]+?(?= +[0-9.]+ ms)"#, options: .regularExpression).map { String(line[$0]) }
            }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(
            names == [
                "read files", "YAML tree", "rule syntax", "compile", "merge defaults", "route table",
                "otherwise chains", "lowering", "shadowing", "index", "hash, sort, free", "load in all",
                "libyaml alone",
            ], "\(run.error)")
    }

    /// 350 KB of rules with 4,000 patterns of `(a{1000}){19}` took 1.8 GB to compile: the
    /// patterns share a budget, so such a file is refused, in a bounded amount of memory.
    @Test func patternHeavyRulesAreRefusedInBoundedMemory() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("patterns-\(UUID()).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        let routes = (0..<4000).map {
            "  - name: r\($0)\n    when: {message.text: {matches: '(a{1000}){19}'}}\n    deliver: as_is\n"
        }
        try ("version: 1\nroutes:\n" + routes.joined()).write(to: file, atomically: true, encoding: .utf8)
        let run = try await broker(["validate-rules", "--timings", file.path])
        #expect(run.status == 1)
        #expect(run.output.contains("more than 1000000 automaton steps"), "\(run.output)")
        let peak = run.error.split(separator: "\n").first { $0.contains("peak memory") }
            .flatMap { Int($0.split(separator: " ").dropFirst(2).first ?? "") }
        #expect(try #require(peak, "\(run.error)") < 400, "validate-rules peaked at \(peak ?? 0) MB")
    }

    @Test func shippedRuleTestsPass() async throws {
        let run = try await broker(["test-rules", "rules/tests"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.hasSuffix("40 passed, 0 failed\n"))
    }

    @Test func invalidRulesExitOneWithEveryDiagnosticInEachFormat() async throws {
        let file = "Tests/RoutingRulesTests/Corpus/broken/type-errors.yaml"
        let text = try await broker(["validate-rules", file])
        #expect(text.status == 1)
        #expect(text.output.split(separator: "\n").count == 3)
        #expect(text.output.hasPrefix("\(file):4:40: error: 'lt' compares numbers"))
        let github = try await broker(["validate-rules", "--format", "github", file])
        #expect(github.output.hasPrefix("::error file=\(file),line=4,col=40::"))
        let json = try await broker(["validate-rules", "--format", "json", file])
        #expect(
            json.output.hasPrefix(
                #"{"valid":false,"errors":3,"warnings":0,"diagnostics":[{"severity":"error","file":"\#(file)","line":4,"column":40,"#
            ))
    }

    @Test func warningsFailOnlyWhenStrict() async throws {
        let file = "Tests/RoutingRulesTests/Corpus/broken/shadowed.yaml"
        #expect(try await broker(["validate-rules", file]).status == 0)
        #expect(try await broker(["validate-rules", "--strict", file]).status == 1)
    }

    @Test func usageAndIOErrorsExitTwo() async throws {
        #expect(try await broker(["validate-rules", "no/such/path.yaml"]).status == 2)
        #expect(try await broker(["validate-rules", "--format", "xml", "rules"]).status == 2)
        #expect(try await broker(["test-rules", "--rules", "no/such/rules", "rules/tests/default.yaml"]).status == 2)
    }

    @Test func failingRuleTestsShowADiff() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rule-tests-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let test = directory.appendingPathComponent("wrong.yaml")
        try """
        cases:
          - name: wrong expectation
            message: { message_type: ERROR }
            expect: { route: direct-to-known-receiver, fields: { routing_status: routed } }
        """.write(to: test, atomically: true, encoding: .utf8)
        let run = try await broker(["test-rules", "--rules", "rules/default.yaml", test.path])
        #expect(run.status == 1)
        #expect(run.output.contains("FAIL \(test.path):2:5 wrong expectation"))
        #expect(
            run.output.contains("route:\n    - expected: direct-to-known-receiver\n    + actual:   error-to-server"))
        #expect(
            run.output.contains(
                #"field routing_status:"# + "\n" + #"    - expected: "routed""# + "\n" + #"    + actual:   "error""#))
        #expect(run.output.hasSuffix("0 passed, 1 failed\n"))
    }

    @Test func explainShowsRoutesCandidatesAndTheResult() async throws {
        let message = #"{"message_type":"TEXT","sender_id":"agent_ed38e8b1","message_id":"m1","text_payload":"hi"}"#
        let run = try await broker(
            ["explain", "--rules", "rules", "--registry", "rules/registries/three-agents.yaml", "--seed", "3", "-"],
            input: message)
        #expect(run.status == 0, "\(run.error)")
        #expect(run.output.contains("✗ direct-to-known-receiver (rules/default.yaml:39:5): receiver.known == true"))
        #expect(run.output.contains("✓ random-online-agent (rules/default.yaml:51:5): matched"))
        #expect(
            run.output.contains(
                "candidates (2) from agent.online == true, excluding the sender: agent_694ba2d9, agent_acd0c602"))
        #expect(run.output.contains("output: server_input_queue"))
    }

    /// Routes the index skips are named; `--all` says why each cannot match.
    @Test func explainNamesTheRoutesTheIndexSkipped() async throws {
        let base = ["explain", "--registry", "rules/registries/three-agents.yaml", "--seed", "3"]
        let named = try await broker(base + [#"{"message_type":"TEXT"}"#])
        #expect(named.status == 0, "\(named.error)")
        #expect(
            named.output.contains(
                "(3 other routes skipped by the index, which cannot match this message: agent-status-update, error-pending, error-to-server; --all says why)"
            ), "\(named.output)")
        let all = try await broker(base + ["--all", #"{"message_type":"TEXT"}"#])
        #expect(
            all.output.contains(
                #"– error-pending (rules/default.yaml:23:5): skipped by the index: message.message_type == "ERROR" (message.message_type is "TEXT")"#
            ), "\(all.output)")
    }

    /// `--format json`: the documented shape, for a delivered message and for one that is not JSON.
    @Test func explainAsJSONHasTheDocumentedShape() async throws {
        let base = ["explain", "--registry", "rules/registries/three-agents.yaml", "--seed", "3", "--format", "json"]
        let run = try await broker(base + [#"{"message_type":"TEXT","sender_id":"agent_ed38e8b1"}"#])
        #expect(run.status == 0, "\(run.error)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any], "\(run.output)")
        #expect(
            Set(object.keys) == ["version", "rule_set", "registry", "message", "steps", "skipped_by_index", "decision"])
        #expect(object["version"] as? Int == 1)
        let steps = try #require(object["steps"] as? [[String: Any]])
        #expect(steps.map { $0["route"] as? String } == ["direct-to-known-receiver", "random-online-agent"])
        #expect(steps.map { $0["result"] as? String } == ["not_matched", "taken"])
        #expect((steps[1]["candidates"] as? [String])?.count == 2)
        #expect((object["skipped_by_index"] as? [[String: Any]])?.count == 3)
        let decision = try #require(object["decision"] as? [String: Any])
        #expect(decision["route"] as? String == "random-online-agent")
        #expect(decision["outcome"] as? String == "deliver")
        let delivery = try #require((decision["deliveries"] as? [[String: Any]])?.first)
        #expect(delivery["queue"] as? String == "server_input_queue")
        #expect((delivery["message"] as? [String: Any])?["routing_status"] as? String == "routed")

        let bad = try await broker(base + ["{not json"])
        #expect(bad.status == 1)
        let failed = try #require(try JSONSerialization.jsonObject(with: Data(bad.output.utf8)) as? [String: Any])
        #expect((failed["decision"] as? [String: Any])?["outcome"] as? String == "dead_letter")
    }

    @Test func explainRejectsBadMessagesClearly() async throws {
        let invalid = try await broker(
            ["explain", "--registry", "rules/registries/three-agents.yaml", "-"], input: "{not json")
        #expect(invalid.status == 1)
        #expect(invalid.error.contains("standard input: invalid JSON"))
        let array = try await broker(
            ["explain", "--registry", "rules/registries/three-agents.yaml", "-"], input: "[1]")
        #expect(array.error.contains("message is a JSON array, not an object"))
        let huge = try await broker(
            ["explain", "--registry", "rules/registries/three-agents.yaml", "--max-message-size", "100", "-"],
            input: "{\"a\":\"" + String(repeating: "x", count: 200) + "\"}")
        #expect(huge.error.contains("exceeds the limit of 100 bytes"))
    }
}
