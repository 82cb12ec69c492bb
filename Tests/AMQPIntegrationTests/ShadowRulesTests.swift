import AMQPTestSupport
import AMQPTransport
import BrokerCore
import Foundation
import TestSupport
import Testing

/// `broker run --shadow-rules` on RabbitMQ: the shadow set changes nothing, its divergence
/// counters agree with `broker diff-rules` on the decisions the same run recorded, and an
/// invalid shadow reload leaves the live rules alone.
@Suite(.serialized, .timeLimit(.minutes(10))) struct ShadowRulesTests {
    /// The live rules with one route added first: urgent TEXT messages dead-lettered.
    static func shadowRules(_ live: String) -> String {
        live.replacingOccurrences(
            of: "routes:\n",
            with: """
                routes:
                  - name: urgent-to-a-human
                    when: { message.message_type: TEXT, message.text_payload: { prefix: URGENT } }
                    dead_letter: "urgent: a human takes it"

                """)
    }

    @Test func shadowRulesPublishAndSettleNothingAndAgreeWithDiffRules() async throws {
        try TestRabbitMQ.requireReachable()
        let vhost = try await TestRabbitMQ.makeVirtualHost()
        defer { vhost.delete() }
        let directory = temporaryPath("shadow")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let live = directory.appendingPathComponent("live.yaml")
        let shadow = directory.appendingPathComponent("shadow.yaml")
        let registry = directory.appendingPathComponent("registry.yaml")
        let recorded = directory.appendingPathComponent("recorded.jsonl")
        let liveText = try String(
            contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8)
        try liveText.write(to: live, atomically: true, encoding: .utf8)
        try Self.shadowRules(liveText).write(to: shadow, atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            at: repositoryRoot.appendingPathComponent("rules/registries/three-agents.yaml"), to: registry)
        let port = try freePort()
        let broker = try ChildProcess(
            "broker",
            arguments: [
                "run", "--rules", live.path, "--shadow-rules", shadow.path, "--registry", registry.path,
                "--record", recorded.path, "--metadata-queue", "", "--advertisement-queue", "",
                "--admin-address", "127.0.0.1:\(port)", "--log-level", "notice",
            ], environment: ["RABBITMQ_URL": vhost.url])
        let base = "http://127.0.0.1:\(port)"
        try await eventually("the broker is ready", timeout: .seconds(30)) {
            guard broker.isRunning else { throw ShadowTestError("the broker exited\n\(broker.tail())") }
            return await http("GET", base + "/readyz", timeout: 1).status == 200
        }
        let bodies = (0..<40).map { i in
            let text = i % 5 == 0 ? "URGENT \(i)" : "hello \(i)"
            return Array(
                #"{"message_type":"TEXT","sender_id":"agent_ed38e8b1","message_id":"s\#(i)","text_payload":"\#(text)","routing_status":"pending"}"#
                    .utf8)
        }
        try await vhost.publish(bodies, to: "broker_input_queue")
        try await eventually("the live rules routed all 40", timeout: .seconds(20)) {
            (try? vhost.count("server_input_queue")) == 40
        }
        // The live decisions only: nothing dead-lettered, nothing more published, nothing left unsettled.
        try await remains(
            "40 published, none dead-lettered, none left", for: .milliseconds(500), every: .milliseconds(100)
        ) {
            try vhost.count("server_input_queue") == 40 && vhost.count("broker_dead_letter") == 0
                && vhost.count("broker_input_queue") == 0
        }
        let metrics = await http("GET", base + "/metrics").body
        let diverged =
            #"broker_shadow_decisions_total{live_route="random-online-agent",shadow_route="urgent-to-a-human",same="false"} 8"#
        let agreed =
            #"broker_shadow_decisions_total{live_route="random-online-agent",shadow_route="random-online-agent",same="true"} 32"#
        #expect(metrics.contains(diverged), "\(metrics.split(separator: "\n").filter { $0.contains("shadow") })")
        #expect(metrics.contains(agreed))
        let report = await http("GET", base + "/shadow").body
        #expect(report.contains(#""shadow_route":"urgent-to-a-human""#) && report.contains("routes tried:"))
        #expect(broker.output.contains("shadow rules decide differently"), "one log line per new kind")
        #expect(broker.output.components(separatedBy: "shadow rules decide differently").count == 2)

        // An invalid shadow reload: refused on its own; the live rules and routing go on.
        let liveHash = try await Self.hash(base + "/rules")
        try "version: 1\nroutes: [ {name: x".write(to: shadow, atomically: true, encoding: .utf8)
        _ = await http("POST", base + "/-/reload")
        let refused = await http("GET", base + "/shadow").body
        #expect(refused.contains(#""last_error":["#) && refused.contains("shadow.yaml"), "\(refused.prefix(400))")
        #expect(try await Self.hash(base + "/rules") == liveHash)
        // Refused by POST /-/reload, and by the file watcher too when it saw the change first.
        let failures = await http("GET", base + "/metrics").body.split(separator: "\n")
            .first { $0.hasPrefix("broker_shadow_rules_reload_failures_total ") }?.split(separator: " ").last
        #expect(failures.flatMap { Int($0) }.map { $0 >= 1 } == true, "\(failures ?? "no counter")")
        #expect(await http("GET", base + "/readyz").status == 200)
        await broker.stop()

        // diff-rules on what this run recorded counts the same divergences.
        try Self.shadowRules(liveText).write(to: shadow, atomically: true, encoding: .utf8)
        let lines = try String(contentsOf: recorded, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 40)
        let diff = try await runProcess(
            brokerExecutable,
            [
                "diff-rules", live.path, shadow.path, "--messages", recorded.path, "--registry", registry.path,
                "--format", "json",
            ],
            in: repositoryRoot)
        #expect(diff.status == 0, "\(diff.error)")
        let result = try JSONParser.parse(diff.output).objectValue
        #expect(result?["compared"] == 40 && result?["changed"] == 8)
        guard case .array(let groups)? = result?["groups"] else {
            Issue.record("no groups: \(diff.output)")
            return
        }
        #expect(groups.count == 1)
        #expect(
            groups.first?.objectValue?["new_route"] == "urgent-to-a-human" && groups.first?.objectValue?["count"] == 8)
    }

    static func hash(_ url: String) async throws -> String? {
        try JSONParser.parse(await http("GET", url).body).objectValue?["hash"]?.stringValue
    }

    struct ShadowTestError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
