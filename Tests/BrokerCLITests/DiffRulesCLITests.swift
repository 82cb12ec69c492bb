import Foundation
import TestSupport
import Testing

/// `broker diff-rules` as a reviewer's CI runs it: files in, a report and an exit status out.
@Suite(.timeLimit(.minutes(10))) struct DiffRulesCLITests {
    let cli = CLITests()

    static let old = """
        version: 1
        routes:
          - name: anyone
            when: { message.message_type: TEXT }
            select: { agents: { online: true }, exclude: [sender], strategy: random }
        """

    static let new = """
        version: 1
        routes:
          - name: urgent
            when: { message.message_type: TEXT, message.text_payload: { prefix: "URGENT" } }
            dead_letter: "urgent messages go to a human"
          - name: anyone
            when: { message.message_type: TEXT }
            select: { agents: { online: true }, exclude: [sender], strategy: random }
        """

    /// Rule files and 50 recorded messages, 5 of them urgent; returns their paths.
    func files() throws -> (old: String, new: String, messages: String, directory: URL) {
        let directory = temporaryPath("diff-rules")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.old.write(to: directory.appendingPathComponent("old.yaml"), atomically: true, encoding: .utf8)
        try Self.new.write(to: directory.appendingPathComponent("new.yaml"), atomically: true, encoding: .utf8)
        let agents = #"[{"agent_id":"agent_a","is_online":true},{"agent_id":"agent_b","is_online":true}]"#
        let lines = (0..<50).map { i in
            let text = i % 10 == 0 ? "URGENT \(i)" : "hi \(i)"
            return
                #"{"version":1,"seed":\#(i),"agents":\#(agents),"message":{"message_type":"TEXT","message_id":"m\#(i)","sender_id":"agent_a","text_payload":"\#(text)"}}"#
        }
        try (lines.joined(separator: "\n") + "\n{not json\n").write(
            to: directory.appendingPathComponent("recorded.jsonl"), atomically: true, encoding: .utf8)
        return (
            directory.appendingPathComponent("old.yaml").path, directory.appendingPathComponent("new.yaml").path,
            directory.appendingPathComponent("recorded.jsonl").path, directory
        )
    }

    @Test func theJSONReportHasItsDocumentedShapeAndExactCounts() async throws {
        let f = try files()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let run = try await cli.broker(["diff-rules", f.old, f.new, "--messages", f.messages, "--format", "json"])
        #expect(run.status == 0, "\(run.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        #expect(report["version"] as? Int == 1)
        #expect(report["lines"] as? Int == 51 && report["compared"] as? Int == 50 && report["changed"] as? Int == 5)
        #expect(report["changed_percent"] as? Double == 10)
        #expect((report["skipped"] as? [String: Int]) == ["not a JSON object": 1])
        #expect(
            (report["old"] as? [String: Any])?["hash"] is String
                && (report["new"] as? [String: Any])?["files"] is [String])
        let byField = try #require(report["by_field"] as? [String: Int])
        #expect(byField == ["route": 5, "action": 5, "receiver": 5, "output": 5, "routing_status": 0])
        let groups = try #require(report["groups"] as? [[String: Any]])
        #expect(groups.count == 1)
        #expect(groups[0]["old_route"] as? String == "anyone" && groups[0]["new_route"] as? String == "urgent")
        #expect(groups[0]["fields"] as? [String] == ["route", "action", "receiver", "output"])
        #expect(groups[0]["count"] as? Int == 5)
        let examples = try #require(groups[0]["examples"] as? [[String: Any]])
        #expect(examples.count == 3 && examples.map { $0["line"] as? Int } == [1, 11, 21])
        #expect((examples[0]["new"] as? [String: Any])?["action"] as? String == "dead_letter")
        #expect((examples[0]["message"] as? [String: Any])?["message_id"] as? String == "m0")
    }

    @Test func markdownIsATableReadyForAPullRequestAndTheExitStatusGuardsCI() async throws {
        let f = try files()
        defer { try? FileManager.default.removeItem(at: f.directory) }
        let markdown = try await cli.broker(
            ["diff-rules", f.old, f.new, "--messages", f.messages, "--format", "markdown", "--fail-if-changed", "5"])
        #expect(markdown.status == 1, "10% changed is over 5%")
        #expect(markdown.error.contains("10.0% of the messages are decided differently, over --fail-if-changed 5"))
        let lines = markdown.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].hasPrefix("### Routing change: `"))
        #expect(lines.contains("**5 of 50 messages (10.0%) are decided differently.**"))
        #expect(lines.contains("| old route | new route | what changed | messages | share |"))
        #expect(lines.contains("| anyone | urgent | route, action, receiver, output | 5 | 10.0% |"))
        #expect(lines.contains("<details><summary>Examples</summary>") && lines.contains("</details>"))
        #expect(lines.contains("Lines skipped: 1 not a JSON object."))

        let within = try await cli.broker([
            "diff-rules", f.old, f.new, "--messages", f.messages, "--fail-if-changed", "10",
        ])
        #expect(within.status == 0 && within.output.hasPrefix("diff-rules: 50 messages compared"))
        let same = try await cli.broker([
            "diff-rules", f.old, f.old, "--messages", f.messages, "--fail-if-changed", "0",
        ])
        #expect(same.status == 0 && same.output.contains("0 decided differently (0%)"), "\(same.output)")
        let missing = try await cli.broker(["diff-rules", f.old, f.new, "--messages", f.directory.path + "/nope.jsonl"])
        #expect(missing.status == 2 && missing.error.contains("nope.jsonl: cannot read file"))

        // A CI gate that compares nothing must fail, whatever --fail-if-changed says.
        for (name, contents) in [("empty.jsonl", ""), ("garbage.jsonl", "not json\n[1,2]\n{\"x\":1}\n")] {
            let corpus = f.directory.appendingPathComponent(name)
            try contents.write(to: corpus, atomically: true, encoding: .utf8)
            let nothing = try await cli.broker([
                "diff-rules", f.old, f.new, "--messages", corpus.path, "--fail-if-changed", "0",
            ])
            #expect(nothing.status == 1, "\(name): \(nothing.output)\(nothing.error)")
            #expect(nothing.error.contains("no message in \(corpus.path) could be compared"), "\(nothing.error)")
        }
    }
}
