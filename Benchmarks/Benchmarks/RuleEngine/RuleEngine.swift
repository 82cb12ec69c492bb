import Benchmark
import BrokerCore
import Foundation
import RoutingRules

// The rule engine's performance targets, measured. Each benchmark decides one message per
// iteration; `mallocCountTotal` divided by iterations is allocations per decision.

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        maxDuration: .seconds(3),
        maxIterations: 2_000_000
    )

    // The harness's own allocations per sample, to subtract from the others.
    Benchmark("baseline: empty iteration") { benchmark in
        for i in benchmark.scaledIterations { blackHole(i) }
    }

    // MARK: Default rules vs. a hand-written Swift function (the floor)

    let thousand = Fixtures.registry(agents: 1000)
    let mixed = Fixtures.defaultMix(agents: 1000)
    let defaultRules = Fixtures.load(Fixtures.repository + "/rules/default.yaml")

    Benchmark("default rules: hand-written Swift, 1,000 agents") { benchmark in
        var random = FastRandom(seed: 1)
        for i in benchmark.scaledIterations {
            blackHole(HandWrittenDefault.decide(mixed[i % mixed.count], thousand, &random))
        }
    }

    Benchmark("default rules: compiled YAML, 1,000 agents") { benchmark in
        var random = FastRandom(seed: 1)
        for i in benchmark.scaledIterations {
            blackHole(defaultRules.evaluate(mixed[i % mixed.count], in: thousand, random: &random))
        }
    }

    // MARK: Cost as routes grow (equality on message_type and sender_id)

    for count in [10, 100, 1000, 10_000] {
        let rules = Fixtures.compile(Fixtures.equalityRoutes(count))
        let messages = (0..<512).map { i in
            let route = (i * 7919) % count
            return Fixtures.message(#"{"message_type":"T\#(route % 10)","sender_id":"s\#(route)","text_payload":"x"}"#)
        }
        let empty = AgentRegistry.Snapshot(agents: [])
        Benchmark("equality routes: \(count)") { benchmark in
            var random = FastRandom(seed: 1)
            for i in benchmark.scaledIterations {
                blackHole(rules.evaluate(messages[i % messages.count], in: empty, random: &random))
            }
        }
    }

    // MARK: Selection among 100,000 agents

    let selectRules = Fixtures.compile(
        """
        version: 1
        routes:
          - name: skill
            select: { agents: { online: true, metrics.skill: s3 }, strategy: random }
        """)
    let large = Fixtures.registry(agents: 100_000, indexed: selectRules.indexedMetricKeys)
    let plain = Fixtures.message(#"{"message_type":"TEXT","sender_id":"web"}"#)
    Benchmark("select among 100,000 agents: online + metric equality, random") { benchmark in
        var random = FastRandom(seed: 1)
        for _ in benchmark.scaledIterations {
            blackHole(selectRules.evaluate(plain, in: large, random: &random))
        }
    }

    // MARK: Compilation, next to libyaml's own parse of the same bytes

    let tenThousand = Fixtures.equalityRoutes(10_000)
    Benchmark("compile 10,000 routes (flow style)", configuration: .init(maxIterations: 20)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Fixtures.compile(tenThousand))
        }
    }

    for count in [1_000, 10_000] {
        let source = RuleSource(name: "generated.yaml", text: Fixtures.blockRoutes(count))
        let label = "\(count.formatted()) routes (block style, \(source.bytes.count / 1000) KB)"
        Benchmark("libyaml events alone: \(label)", configuration: .init(maxIterations: 50)) { benchmark in
            for _ in benchmark.scaledIterations { blackHole(YAMLBaseline.eventCount(source.bytes)) }
        }
        Benchmark("load: \(label)", configuration: .init(maxIterations: 50)) { benchmark in
            for _ in benchmark.scaledIterations { blackHole(RuleSetLoader().load([source]).ruleSet) }
        }
    }

    // The whole `broker validate-rules` process (start, read, load, report, exit), when the
    // release binary has been built (`make release`).
    let binary = Fixtures.repository + "/.build/release/broker"
    if FileManager.default.isExecutableFile(atPath: binary) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bench-10000-routes.yaml")
        try? Fixtures.blockRoutes(10_000).write(to: file, atomically: true, encoding: .utf8)
        Benchmark("validate-rules process: 10,000 routes (block style)", configuration: .init(maxIterations: 20)) {
            benchmark in
            for _ in benchmark.scaledIterations {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: binary)
                process.arguments = ["validate-rules", "--quiet", file.path]
                try? process.run()
                process.waitUntilExit()
                blackHole(process.terminationStatus)
            }
        }
    }

    // MARK: Registry updates

    let records = (0..<10_000).map { Fixtures.record($0, online: true) }
    let fullRegistry = AgentRegistry(indexedMetrics: ["skill"])
    Benchmark("registry: full update of 10,000 agents", configuration: .init(maxIterations: 100)) { benchmark in
        let registry = fullRegistry
        for _ in benchmark.scaledIterations {
            blackHole(registry.apply(AgentStatusUpdate(agents: records, isFullUpdate: true)))
        }
    }

    // Set up outside the measured closure: only the partial updates are timed.
    let partialRegistry = AgentRegistry(indexedMetrics: ["skill"])
    partialRegistry.apply(AgentStatusUpdate(agents: records, isFullUpdate: true))
    let updates = (0..<64).map { i in
        AgentStatusUpdate(agents: [Fixtures.record(i * 151, online: i % 2 == 0)], isFullUpdate: false)
    }
    Benchmark("registry: partial update of one agent among 10,000") { benchmark in
        let registry = partialRegistry
        for i in benchmark.scaledIterations {
            blackHole(registry.apply(updates[i % updates.count]))
        }
    }
}

enum Fixtures {
    static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func load(_ path: String) -> RuleSet {
        guard let ruleSet = try? RuleSetLoader().load(paths: [path]).ruleSet else { fatalError("cannot load \(path)") }
        return ruleSet
    }

    static func compile(_ yaml: String) -> RuleSet {
        let result = RuleSetLoader().load([RuleSource(name: "bench.yaml", text: yaml)])
        guard let ruleSet = result.ruleSet else { fatalError("\(result.diagnostics)") }
        return ruleSet
    }

    static func message(_ json: String) -> Message {
        guard let message = try? Message(decoding: Array(json.utf8)) else { fatalError(json) }
        return message
    }

    static func record(_ i: Int, online: Bool) -> AgentStatusRecord {
        AgentStatusRecord(
            agentID: String(format: "agent_%06d", i), agentName: "Agent \(i)", isOnline: online,
            lastSeen: "2026-11-25T10:00:00Z", metrics: ["skill": "s\(i % 10)", "load": "0.\(i % 10)"])
    }

    static func registry(agents: Int, indexed: Set<String> = []) -> AgentRegistry.Snapshot {
        let registry = AgentRegistry(indexedMetrics: indexed)
        return registry.apply(
            AgentStatusUpdate(agents: (0..<agents).map { record($0, online: $0 % 5 != 0) }, isFullUpdate: true))
    }

    /// 70% chat without receiver, 20% chat to a known receiver, 10% ERROR.
    static func defaultMix(agents: Int) -> [Message] {
        (0..<100).map { i in
            let sender = String(format: "agent_%06d", (i * 37) % agents)
            let receiver = String(format: "agent_%06d", (i * 91) % agents)
            switch i % 10 {
            case 0:
                return message(
                    #"{"message_type":"ERROR","sender_id":"\#(sender)","message_id":"m\#(i)","text_payload":"boom"}"#)
            case 1, 2:
                return message(
                    #"{"message_type":"TEXT","sender_id":"\#(sender)","receiver_id":"\#(receiver)","message_id":"m\#(i)","text_payload":"hi","routing_status":"pending"}"#
                )
            default:
                return message(
                    #"{"message_type":"TEXT","sender_id":"\#(sender)","message_id":"m\#(i)","text_payload":"hi","routing_status":"pending","_client_id":"\#(sender)"}"#
                )
            }
        }
    }

    /// Routes as a tool would generate them, in block style: an equality, a membership, two
    /// assignments each (10,000 of them are 1.9 MB).
    static func blockRoutes(_ count: Int) -> String {
        var yaml = "version: 1\nroutes:\n"
        for i in 0..<count {
            yaml += """
                  - name: route-\(i)
                    when:
                      message.message_type: T\(i % 10)
                      message.sender_id:
                        in: [s\(i), t\(i)]
                    set: { routing_status: routed, route_number: "\(i)" }
                    deliver: as_is

                """
        }
        return yaml
    }

    static func equalityRoutes(_ count: Int) -> String {
        var yaml = "version: 1\nroutes:\n"
        for i in 0..<count {
            yaml +=
                "  - name: r\(i)\n    when: { message.message_type: T\(i % 10), message.sender_id: s\(i) }\n    deliver: as_is\n"
        }
        return yaml
    }
}

/// `rules/default.yaml` written by hand against the same types: the floor for the compiled rules.
enum HandWrittenDefault {
    static func decide(_ message: Message, _ snapshot: AgentRegistry.Snapshot, _ random: inout FastRandom) -> Decision {
        let output = Destination.queue("server_input_queue")
        var body = message.body
        switch message.messageType {
        case "AGENT_STATUS_UPDATE":
            return Decision(route: "agent-status-update", outcome: .statusUpdate)
        case "ERROR":
            if body["routing_status"] == "pending" {
                body["routing_status"] = "error"
            } else if body["routing_status"] == nil {
                body["routing_status"] = "error"
            }
            return Decision(
                route: "error-to-server",
                outcome: .deliver(Delivery(message: Message(body), destination: output, agentID: nil)))
        case "TEXT", "REPLY", "SYSTEM":
            if let receiver = message.receiverID, snapshot.slot(of: receiver) != nil, body["routing_status"] != "error"
            {
                body["routing_status"] = "routed"
                return Decision(
                    route: "direct",
                    outcome: .deliver(Delivery(message: Message(body), destination: output, agentID: nil)))
            }
            let online = snapshot.online
            var excluded = -1
            if let sender = message.senderID, let position = snapshot.position(of: sender, in: online) {
                excluded = position
            }
            let available = online.count - (excluded >= 0 ? 1 : 0)
            guard available > 0 else {
                return Decision(route: "none", outcome: .drop(reason: "no agent"))
            }
            var index = random.below(available)
            if excluded >= 0, index >= excluded { index += 1 }
            let agent = snapshot.agentID(at: online[index])
            body.removeValue(forKey: "_broadcast")
            body.removeValue(forKey: "_target_agent_id")
            body.removeValue(forKey: "_client_id")
            body["routing_status"] = "routed"
            body["receiver_id"] = .string(agent)
            return Decision(
                route: "random",
                outcome: .deliver(Delivery(message: Message(body), destination: output, agentID: agent)))
        default:
            return Decision(route: nil, outcome: .deadLetter(reason: "unknown", queue: "broker_dead_letter"))
        }
    }
}
