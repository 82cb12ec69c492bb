import AgentServerSimulator
import BrokerCore
import BrokerDaemon
import BrokerRouter
import BrokerTransports
import Foundation
import InMemoryTransport
import RoutingRules
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Rules that stamp each routed message with the version of the rule set that decided.
func rules(version: String) -> String {
    """
    version: 1
    routes:
      - name: stamp-\(version)
        when: { message.message_type: TEXT }
        set: { rules_version: "\(version)" }
        select: { strategy: random }
    """
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("daemon-\(UUID())")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A daemon on in-memory queues with a snapshot-file registry and an admin port of its own.
/// `adjust` changes the configuration before the daemon is built.
func memoryDaemon(
    rulesDirectory: URL, queues: InMemoryQueues, adjust: (inout DaemonConfiguration) -> Void = { _ in }
) throws -> Daemon {
    var configuration = DaemonConfiguration(
        transport: InMemoryTransport(queues: queues),
        agents: .file(root.appendingPathComponent("rules/registries/three-agents.yaml").path))
    configuration.rules = [rulesDirectory.path]
    configuration.metadataQueue = ""
    configuration.admin.port = 0
    configuration.prefetch = 64
    adjust(&configuration)
    return try Daemon(configuration: configuration)
}

/// Runs `body` with a daemon on in-memory queues routing the `rules(version: "one")` rule set,
/// its queues and its admin URL; stops the daemon (and waits for it) whatever `body` does.
func withMemoryDaemon(
    adjust: (inout DaemonConfiguration) -> Void = { _ in },
    _ body: (Daemon, InMemoryQueues, String) async throws -> Void
) async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    try rules(version: "one").write(
        to: directory.appendingPathComponent("routes.yaml"), atomically: true, encoding: .utf8)
    let queues = InMemoryQueues()
    let daemon = try memoryDaemon(rulesDirectory: directory, queues: queues, adjust: adjust)
    let running = Task { try await daemon.run() }
    try await eventually("the admin server listens") { daemon.admin.port != 0 }
    do {
        try await body(daemon, queues, "http://127.0.0.1:\(daemon.admin.port)")
    } catch {
        daemon.stop()
        try? await running.value
        throw error
    }
    daemon.stop()
    try await running.value
}

/// Runs Debian's promtool (scripts/promtool.sh finds or unpacks it) on a metrics text.
func promtool(_ metrics: String) async throws -> (status: Int32, output: String) {
    let (found, path) = try await runCommand("/bin/bash", [root.appendingPathComponent("scripts/promtool.sh").path])
    try #require(found == 0, "promtool is not available (scripts/promtool.sh): \(path)")
    let tool = String(path.split(separator: "\n").last ?? "")
    return try await runCommand(tool, ["check", "metrics"], input: metrics)
}

func request(_ method: String, _ url: String) async throws -> (Int, String) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

@Suite(.serialized, .timeLimit(.minutes(10))) struct DaemonTests {
    @Test func reloadsWhileMessagesFlowLoseNothingAndNeverMixRuleSets() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("routes.yaml")
        try rules(version: "v0").write(to: file, atomically: true, encoding: .utf8)
        let queues = InMemoryQueues()
        let daemon = try memoryDaemon(rulesDirectory: directory, queues: queues)
        let running = Task { try await daemon.run() }
        let total = 20_000
        let producer = Task {
            for i in 0..<total {
                queues.enqueue(Array(#"{"message_type":"TEXT","message_id":"m\#(i)"}"#.utf8), to: "broker_input_queue")
                if i % 100 == 0 { await Task.yield() }
            }
        }
        var versions: Set<String> = ["v0"]
        for reload in 1...200 {
            switch reload % 4 {
            case 0:  // an invalid edit: the rules in force stay
                try "version: 1\nroutes:\n  - name: [broken".write(to: file, atomically: true, encoding: .utf8)
                await daemon.reloader.reload(reason: "test")
            case 1:  // an editor's write-new-and-rename
                let version = "v\(reload)"
                let temporary = directory.appendingPathComponent(".routes.yaml.swp")
                try rules(version: version).write(to: temporary, atomically: false, encoding: .utf8)
                #expect(rename(temporary.path, file.path) == 0)
                versions.insert(version)
                await daemon.reloader.reload(reason: "SIGHUP")
            default:
                let version = "v\(reload)"
                try rules(version: version).write(to: file, atomically: true, encoding: .utf8)
                versions.insert(version)
                await daemon.reloader.reload(reason: "SIGHUP")
            }
            try await pace(.milliseconds(2))
        }
        await producer.value
        try await eventually("all \(total) are settled", timeout: .seconds(60)) {
            daemon.router.statistics.settled >= total
        }
        daemon.stop()
        try await running.value
        let output = queues.drain("server_input_queue")
        let messages = output.compactMap { try? Message(decoding: $0.body) }
        #expect(output.count == total)
        #expect(Set(messages.compactMap(\.messageID)).count == total)
        // Every decision was made by one complete rule set: its version stamp is one that loaded.
        let stamps = Set(messages.compactMap { $0[string: "rules_version"] })
        #expect(stamps.isSubset(of: versions))
        #expect(stamps.count > 1)
        #expect(daemon.reloader.status.reloads >= 100)
    }

    @Test func adminEndpointsReportRulesAgentsMetricsAndReload() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("routes.yaml")
        try rules(version: "one").write(to: file, atomically: true, encoding: .utf8)
        let queues = InMemoryQueues()
        let daemon = try memoryDaemon(rulesDirectory: directory, queues: queues)
        let running = Task { try await daemon.run() }
        try await eventually("the admin server listens") { daemon.admin.port != 0 }
        let base = "http://127.0.0.1:\(daemon.admin.port)"
        for i in 0..<10 {
            queues.enqueue(Array(#"{"message_type":"TEXT","message_id":"a\#(i)"}"#.utf8), to: "broker_input_queue")
        }
        queues.enqueue(Array("{oops".utf8), to: "broker_input_queue")
        try await eventually("eleven are settled") { daemon.router.statistics.settled >= 11 }

        #expect(try await request("GET", base + "/healthz") == (200, "ok\n"))
        let (readyStatus, ready) = try await request("GET", base + "/readyz")
        #expect(readyStatus == 200 && ready.contains(#""ready":true"#))
        let (_, metrics) = try await request("GET", base + "/metrics")
        let lint = try await promtool(metrics)
        #expect(lint.status == 0, "promtool check metrics: \(lint.output)")
        for name in ["broker_build_info", "broker_rules_reload_failures_total", "broker_rules_reloads_total"] {
            #expect(metrics.contains("# TYPE \(name) "), "missing \(name)")
        }
        #expect(metrics.contains("# TYPE broker_rules_reloads_total counter"))
        let buildInfo = metrics.split(separator: "\n").first { $0.hasPrefix("broker_build_info{") } ?? ""
        #expect(
            buildInfo.contains(#"version="\#(BuildInfo.version)""#)
                && buildInfo.contains(#"revision="\#(BuildInfo.commit)""#), "\(buildInfo)")
        let sample = try Regex(
            #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?([0-9.e+-]+|\+Inf)$"#)
        for line in metrics.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(String(line).wholeMatch(of: sample) != nil, "not Prometheus text: \(line)")
        }
        #expect(metrics.contains(#"broker_decisions_total{route="stamp-one",outcome="published"} 10"#))
        #expect(metrics.contains(#"broker_dead_letters_total{reason="invalid_json"} 1"#))
        #expect(metrics.contains("broker_registry_online_agents 3"))
        #expect(metrics.contains("broker_rules_last_reload_success 1"))
        // Which endpoint (the RabbitMQ node, in a cluster) each connection uses.
        for role in ["input", "output"] {
            #expect(
                metrics.contains(#"broker_connection_endpoint_info{connection="\#(role)",endpoint=""#), "\(metrics)")
        }

        let (_, agents) = try await request("GET", base + "/agents")
        #expect(agents.contains(#""count":3"#) && agents.contains(#""next_offset":null"#))
        let (_, page) = try await request("GET", base + "/agents?offset=1&limit=1")
        #expect(page.contains(#""next_offset":2"#) && page.components(separatedBy: "\"agent_id\"").count == 2)
        let (_, decisions) = try await request("GET", base + "/decisions?limit=2")
        #expect(decisions.contains("routes tried:") && decisions.contains("stamp-one"))

        try "version: 1\nroutes: [ {name: x".write(to: file, atomically: true, encoding: .utf8)
        let (badStatus, bad) = try await request("POST", base + "/-/reload")
        #expect(badStatus == 422 && bad.contains("invalid YAML"))
        #expect(try await request("GET", base + "/metrics").1.contains("broker_rules_last_reload_success 0"))
        let (_, rulesInForce) = try await request("GET", base + "/rules")
        #expect(rulesInForce.contains(daemon.reloader.holder.current.hash) && rulesInForce.contains("last_error"))

        try rules(version: "two").write(to: file, atomically: true, encoding: .utf8)
        let (goodStatus, good) = try await request("POST", base + "/-/reload")
        #expect(goodStatus == 200 && good.contains(daemon.reloader.holder.current.hash))
        daemon.stop()
        try await running.value
    }

    @Test func aFileChangeReloadsTheRulesByItself() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("routes.yaml")
        try rules(version: "before").write(to: file, atomically: true, encoding: .utf8)
        let daemon = try memoryDaemon(rulesDirectory: directory, queues: InMemoryQueues())
        let running = Task { try await daemon.run() }
        try await eventually("the admin server listens") { daemon.admin.port != 0 }
        let before = daemon.reloader.status.hash
        try rules(version: "after").write(to: file, atomically: true, encoding: .utf8)
        try await eventually("the file change is picked up", timeout: .seconds(5), every: .milliseconds(5)) {
            daemon.reloader.status.hash != before
        }
        #expect(daemon.reloader.holder.current.routeNames == ["stamp-after"])
        daemon.stop()
        try await running.value
    }
}
