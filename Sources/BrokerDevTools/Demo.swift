import AMQPTransport
import AgentServerSimulator
import ArgumentParser
import BrokerApp
import BrokerCLISupport
import BrokerCore
import BrokerDaemon
import BrokerTransports
import Dispatch
import Foundation
import InMemoryTransport
import Logging

/// `broker-dev demo`: the whole system on one machine, for a newcomer.
public struct Demo: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract:
            "Run the embedded end-to-end demo: simulated agent server, agents, messages, live routing, hot reload.",
        discussion: """
            Starts the agent-server simulator on loopback, the real daemon on in-memory queues (or on \
            RabbitMQ with --rabbitmq), agents that come, go and change load, and a message generator. \
            A live view shows messages per route and per agent; halfway through, the demo edits its \
            rule file and the daemon reloads it. No network beyond loopback.
            """
    )

    @Option(help: "Seconds to run.")
    var seconds = 12

    @Option(help: "Messages per second.")
    var rate = 200

    @Flag(help: "Use the RabbitMQ of RABBITMQ_URL / RABBITMQ_HOST instead of in-memory queues.")
    var rabbitmq = false

    static let firstRules = """
        # Demo rules, version 1: billing questions to the least-loaded billing agent.
        version: 1
        defaults: { on_no_route: { dead_letter: "no route for {message.message_type}" } }
        routes:
          - name: billing
            when: { message.message_type: TEXT, message.text_payload: { matches: "(?i)invoice|refund" } }
            set: { routing_status: routed }
            select: { agents: { metrics.skill: billing }, strategy: { least: metrics.load } }
            otherwise: general
          - name: general
            when: { message.message_type: TEXT }
            set: { routing_status: routed }
            select: { exclude: [sender], strategy: random }
            otherwise: { error_to_server: "No online agents available. Routing failed." }
        """

    static let secondRules = firstRules.replacingOccurrences(
        of: "routes:\n",
        with: """
            routes:
              - name: vip
                when: { message.message_type: TEXT, message.tier: gold }
                set: { routing_status: routed }
                select: { strategy: { hash: message.sender_id } }

            """)

    public func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        do {
            try await demo()
        } catch {
            printError("demo failed: \(error)")
            throw ExitCode(1)
        }
    }

    func demo() async throws {
        print(
            "broker-dev demo: agent-server simulator + daemon + \(rabbitmq ? "RabbitMQ" : "in-memory queues"), \(rate) msg/s for \(seconds) s\n"
        )
        let simulator = AgentServerSimulator()
        let skills = ["billing", "billing", "support", "support", "sales", "sales"]
        simulator.setAgents(
            skills.enumerated().map { i, skill in
                AgentStatusRecord(
                    agentID: "agent_demo\(i)", agentName: "Agent \(i)", isOnline: true, lastSeen: "",
                    metrics: ["skill": skill, "load": String(format: "%.1f", Double(i) / 10)])
            })
        try await simulator.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("broker-demo-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let ruleFile = directory.appendingPathComponent("demo.yaml")
        try Self.firstRules.write(to: ruleFile, atomically: true, encoding: .utf8)

        let queues = InMemoryQueues()
        let id = String(UUID().uuidString.prefix(6)).lowercased()
        var server = AgentServerSettings(url: simulator.webSocketURL, brokerName: "demo")
        server.link.backoffBase = .milliseconds(100)
        server.link.backoffCap = .seconds(1)
        var configuration: DaemonConfiguration
        let output = "server_input_queue"
        if rabbitmq {
            configuration = DaemonConfiguration(
                transport: AMQPBroker(configuration: try AMQPConfiguration.fromEnvironment()),
                agents: .agentServer(server))
            configuration.inputQueue = "demo_\(id)_input"
        } else {
            configuration = DaemonConfiguration(
                transport: InMemoryTransport(queues: queues), agents: .agentServer(server))
        }
        configuration.rules = [directory.path]
        configuration.metadataQueue = ""
        configuration.admin.port = 0
        let daemon = try Daemon(configuration: configuration)
        let running = Task { try await daemon.run() }
        try await Self.waitUntil("the daemon registered and synced with the simulator") {
            daemon.agents.sync.isSynced
        }
        print(
            "registered with the simulator at \(simulator.webSocketURL); \(daemon.agents.count) agents; console http://\(daemon.admin.address)/console (metrics: /metrics)\n"
        )

        let publisher =
            rabbitmq
            ? AMQPPublisher(
                configuration: try AMQPConfiguration.fromEnvironment(), declareQueues: [configuration.inputQueue]) : nil
        var perAgent: [String: Int] = [:]
        var sent = 0
        var events: [String] = []
        let start = ContinuousClock.now
        let total = seconds * rate
        var lastDraw = start
        let interactive = isatty(1) != 0
        var step = 0
        while sent < total {
            let elapsed = ContinuousClock.now - start
            let due = Int(
                Double(rate) * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            while sent < min(due, total) {
                let text = sent % 3 == 0 ? "about my invoice" : "hello"
                let tier = sent % 7 == 0 ? #","tier":"gold""# : ""
                let body = Array(
                    #"{"message_type":"TEXT","sender_id":"web_\#(sent % 9)","message_id":"d\#(sent)","text_payload":"\#(text)"\#(tier)}"#
                        .utf8)
                if let publisher {
                    _ = await publisher.publish(OutboundMessage(body: body, target: .queue(configuration.inputQueue)))
                } else {
                    queues.enqueue(body, to: configuration.inputQueue)
                }
                sent += 1
            }
            // The story: load shifts, an agent leaves, the rules change, the agent returns.
            let second = Int(elapsed.components.seconds)
            if second > step {
                step = second
                simulator.setMetric("agent_demo0", "load", String(format: "%.1f", Double((second * 3) % 10) / 10))
                if second == seconds / 4 {
                    simulator.setOnline("agent_demo1", false)
                    events.append("\(second)s: agent_demo1 (billing) went offline")
                }
                if second == seconds / 2 {
                    let written = ContinuousClock.now
                    let before = daemon.rulesStatus.hash
                    try Self.secondRules.write(to: ruleFile, atomically: true, encoding: .utf8)
                    while daemon.rulesStatus.hash == before && ContinuousClock.now - written < .seconds(2) {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    let took = ContinuousClock.now - written
                    events.append(
                        "\(second)s: rule file edited (new route 'vip'); reloaded in \(took.formatted(.units(allowed: [.milliseconds])))"
                    )
                }
                if second == 3 * seconds / 4 {
                    simulator.setOnline("agent_demo1", true)
                    events.append("\(second)s: agent_demo1 came back")
                }
            }
            if !rabbitmq {
                for message in queues.drain(output) {
                    let receiver = (try? Message(decoding: message.body))?.receiverID ?? "?"
                    perAgent[receiver, default: 0] += 1
                }
            }
            if ContinuousClock.now - lastDraw > .milliseconds(500) {
                lastDraw = .now
                draw(daemon: daemon, perAgent: perAgent, sent: sent, events: events, interactive: interactive)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Self.waitUntil("every message is settled") { daemon.router.statistics.settled >= sent }
        if !rabbitmq {
            for message in queues.drain(output) {
                perAgent[(try? Message(decoding: message.body))?.receiverID ?? "?", default: 0] += 1
            }
        }
        draw(daemon: daemon, perAgent: perAgent, sent: sent, events: events, interactive: interactive, final: true)
        daemon.stop()
        try await running.value
        publisher?.beginGracefulShutdown()
        await simulator.stop()
        let stats = daemon.router.statistics.snapshot
        print(
            "\nsummary: \(sent) messages sent, \(stats.published) routed, \(stats.deadLettered) dead-lettered, \(stats.requeued) requeued; rules reloaded \(daemon.rulesStatus.reloads) time(s)"
        )
        print(
            "next: edit rules/*.yaml, run `broker validate-rules rules/` and `broker test-rules rules/tests/`, or `broker-dev simulate-server` + `broker run`."
        )
    }

    /// Waits (at most 30 s) until `condition` holds.
    static func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                throw ValidationError("the demo timed out waiting until \(what)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Messages per (route, outcome), read from the daemon's own `/metrics` text.
    static func decisionCounts(_ daemon: Daemon) -> [(route: String, outcome: String, count: Int)] {
        let text = String(decoding: daemon.renderMetrics(), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line -> (String, String, Int)? in
            guard line.hasPrefix("broker_decisions_total{"), let close = line.lastIndex(of: "}") else { return nil }
            var labels: [String: String] = [:]
            for pair in line[line.index(after: line.firstIndex(of: "{")!)..<close].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { labels[String(parts[0])] = parts[1].trimmingCharacters(in: ["\""]) }
            }
            let value = line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)
            return (labels["route"] ?? "?", labels["outcome"] ?? "?", Int(Double(value) ?? 0))
        }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
    }

    func draw(
        daemon: Daemon, perAgent: [String: Int], sent: Int, events: [String], interactive: Bool, final: Bool = false
    ) {
        var lines: [String] = []
        let stats = daemon.router.statistics.snapshot
        lines.append(
            "sent \(sent)   routed \(stats.published)   dead-lettered \(stats.deadLettered)   rules \(daemon.rulesStatus.hash.prefix(8))"
        )
        lines.append("")
        lines.append("route                outcome        messages")
        for entry in Self.decisionCounts(daemon) {
            lines.append(
                entry.route.padding(toLength: 21, withPad: " ", startingAt: 0)
                    + entry.outcome.padding(toLength: 15, withPad: " ", startingAt: 0) + String(entry.count))
        }
        lines.append("")
        lines.append("agent                online  load  messages")
        let snapshot = daemon.agents
        for agent in snapshot.agents {
            lines.append(
                agent.id.padding(toLength: 21, withPad: " ", startingAt: 0) + (agent.isOnline ? "yes     " : "no      ")
                    + (agent.metrics["load"] ?? "-").padding(toLength: 6, withPad: " ", startingAt: 0)
                    + String(perAgent[agent.id] ?? 0))
        }
        if !events.isEmpty {
            lines.append("")
            lines.append(contentsOf: events)
        }
        if interactive {
            print("\u{1B}[H\u{1B}[2J" + lines.joined(separator: "\n"))
        } else if final {
            print("\n" + lines.joined(separator: "\n"))
        } else {
            print(lines[0])
        }
    }
}
