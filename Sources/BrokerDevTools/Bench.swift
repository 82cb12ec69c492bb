import AMQPTransport
import ArgumentParser
import BrokerCLISupport
import BrokerCore
import BrokerRouter
import BrokerTransports
import Dispatch
import Foundation
import Histogram
import RoutingRules
import Synchronization

/// `broker-dev bench`: routing throughput and latency on real RabbitMQ, against a pass-through
/// relay on the same transport in the same run.
public struct Bench: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "Measure the broker on RabbitMQ: throughput vs. a pass-through relay, latency, memory.",
        discussion: """
            Uses fresh queues (bench_<id>_*) on the RabbitMQ of RABBITMQ_URL / RABBITMQ_HOST and \
            deletes them afterwards. Messages are persistent, published with confirms, acked after \
            confirm, exactly as in production.
            """
    )

    @Option(help: "Messages per throughput run.")
    var messages = 50_000

    @Option(help: "Prefetch (basic.qos) for both runs.")
    var prefetch: UInt16 = 256

    @Option(help: "Rule file for the full-broker run (its output and dead-letter queues are redirected).")
    var rules = "rules/default.yaml"

    @Option(help: "Rounds of (relay, broker) throughput runs; the best of each is compared (0: latency only).")
    var rounds = 2

    @Option(help: "Messages per second for the latency run (default: half the broker's best throughput).")
    var latencyRate: Double?

    @Option(help: "Seconds of fixed-rate load for the latency run (0 skips it).")
    var latencySeconds = 5

    @Option(
        help: "Messages waiting in the queue while a `broker run --registry` process's memory is sampled (0 skips it).")
    var memoryMessages = 0

    public func run() async throws {
        try await benchmark()
    }

    final class Counter: Sendable {
        private let count = Atomic(0)
        func increment() -> Int { count.add(1, ordering: .relaxed).newValue }
        var value: Int { count.load(ordering: .relaxed) }
    }

    final class LatencyHistogram: Sendable {
        private let histogram = Mutex(
            Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three))
        func record(microseconds: UInt64) { _ = histogram.withLock { $0.record(microseconds) } }
        var snapshot: Histogram<UInt64> { histogram.withLock { $0 } }
    }

    struct Queues {
        let id = String(UUID().uuidString.prefix(8)).lowercased()
        var input: String { "bench_\(id)_input" }
        var output: String { "bench_\(id)_output" }
        var dead: String { "bench_\(id)_dead" }
    }

    func benchmark() async throws {
        let amqp = try AMQPConfiguration.fromEnvironment()
        let ruleText = try String(contentsOfFile: rules, encoding: .utf8)
        print("broker bench: \(messages) messages, prefetch \(prefetch), RabbitMQ \(amqp)")
        let agents = Self.threeAgents()

        var relayRates: [Double] = []
        var brokerRates: [Double] = []
        for round in 0..<rounds {
            print("round \(round + 1):")
            relayRates.append(
                try await throughput(amqp, label: "  pass-through relay") { queues, publisher in
                    { message in
                        let result = await publisher.publish(
                            OutboundMessage(body: message.body, target: .queue(queues.output)))
                        if case .confirmed = result {
                            message.settlement.ack()
                        } else {
                            message.settlement.reject(requeue: true)
                        }
                    }
                })
            brokerRates.append(
                try await throughput(amqp, label: "  broker, \(rules), 3 agents") { queues, publisher in
                    let router = MessageRouter(
                        rules: RuleSetHolder(try Self.redirect(ruleText, queues)), registry: agents, output: publisher)
                    return { message in
                        let outcome = await router.route(message)
                        if case .published = outcome {} else { print("    unexpected outcome: \(outcome)") }
                    }
                })
        }
        let relayRate = relayRates.max() ?? 0
        let brokerRate = brokerRates.max() ?? 0
        print(
            String(
                format: "best: relay %.0f msg/s, broker %.0f msg/s, broker / relay %.1f%%", relayRate, brokerRate,
                brokerRate / relayRate * 100))

        print(Self.cycleDetectionCost())
        print(Self.propertiesCost())

        if latencySeconds > 0, let rate = latencyRate ?? (brokerRate > 0 ? brokerRate / 2 : nil) {
            try await latency(amqp, rate: rate, ruleText: ruleText, agents: agents)
        }
        if memoryMessages > 0 {
            try await memory(amqp, ruleText: ruleText)
        }
    }

    /// What cycle detection adds per message, measured in this process: the content hash of the
    /// input and of the routed copy, one table lookup and one store.
    static func cycleDetectionCost(iterations: Int = 200_000) -> String {
        let detector = CycleDetector()
        let input = (try? Message(decoding: body(1))) ?? Message(JSONObject())
        var output = input
        output.body["routing_status"] = "routed"
        output.body["receiver_id"] = "agent_b"
        var sink: UInt64 = 0
        let start = ContinuousClock.now
        for i in 0..<iterations {
            let trips = detector.roundTrips(of: input.body.contentHash &+ UInt64(i & 1))
            let hash = output.body.contentHash
            detector.record(hash &+ UInt64(i & 7), roundTrips: trips + 1)
            sink &+= hash
        }
        let elapsed = ContinuousClock.now - start
        let nanoseconds =
            (Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9)
            / Double(iterations)
        return String(
            format:
                "cycle detection: %.0f ns per message (two content hashes, one lookup, one store; %d-byte body; table %d KiB)%@",
            nanoseconds, body(1).count, detector.memoryBytes / 1024, sink == 0 ? " " : "")
    }

    /// What carrying AMQP properties costs per message in this process: the publisher's
    /// placement and encoding and the consumer's decoding, for a message without properties (what
    /// the throughput runs publish) and for one with every property and a typical header table.
    static func propertiesCost(iterations: Int = 200_000) -> String {
        let encoder = PropertyEncoder()
        let bare = OutboundMessage(
            body: [], target: .queue("q"), properties: MessageProperties(contentType: "application/json"), hops: 1)
        var full = bare
        full.properties = MessageProperties(
            contentType: "application/json", messageID: "m-1", correlationID: "c-1", replyTo: "replies",
            timestamp: 1_764_600_000,
            headers: ["x-trace-id": "4bf92f3577b34da6", "x-tenant": "acme", "x-attempt": .int32(2)],
            native: AMQPProperties(
                deliveryMode: 2, priority: 5, contentEncoding: "identity", expiration: "60000", type: "chat.text",
                userID: "guest", appID: "web"))
        func nanoseconds(_ message: OutboundMessage) -> Double {
            var sink = 0
            let start = ContinuousClock.now
            for _ in 0..<iterations { sink &+= encoder.roundTrip(message, user: "guest").hops }
            let elapsed = ContinuousClock.now - start
            let total = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
            return total / Double(iterations + (sink == 0 ? 1 : 0))
        }
        return String(
            format:
                "AMQP properties: %.0f ns per message without properties, %.0f ns with 12 properties and 3 headers set (place, encode, decode)",
            nanoseconds(bare), nanoseconds(full))
    }

    /// `text`'s rules with their output and dead-letter queues renamed to the benchmark's.
    static func redirect(_ text: String, _ queues: Queues) throws -> RuleSet {
        try redirect(text, output: queues.output, deadLetter: queues.dead)
    }

    /// `text`'s rules with the default output queue renamed to `output` (and the dead-letter
    /// queue to `deadLetter`).
    static func redirect(_ text: String, output: String, deadLetter: String = "broker_dead_letter") throws -> RuleSet {
        try compile(
            text.replacingOccurrences(of: "output: server_input_queue", with: "output: \(output)")
                .replacingOccurrences(of: "dead_letter: broker_dead_letter", with: "dead_letter: \(deadLetter)"))
    }

    static func compile(_ text: String) throws -> RuleSet {
        guard let ruleSet = RuleSetLoader().load([RuleSource(name: "bench.yaml", text: text)]).ruleSet else {
            throw ValidationError("the rules do not compile")
        }
        return ruleSet
    }

    /// A synced registry of three online agents, `agent_a` to `agent_c` (what every bench routes to).
    static func threeAgents() -> AgentRegistry {
        let registry = AgentRegistry()
        registry.apply(
            AgentStatusUpdate(
                agents: ["agent_a", "agent_b", "agent_c"].map { AgentStatusRecord(agentID: $0, isOnline: true) },
                isFullUpdate: true))
        registry.sync.markSynced()
        return registry
    }

    static func body(_ i: Int) -> [UInt8] {
        Array(
            #"{"message_type":"TEXT","sender_id":"agent_a","message_id":"m\#(i)","text_payload":"hello","routing_status":"pending"}"#
                .utf8)
    }

    /// Fills a queue with `count` messages using many publishes in flight (declaring it first
    /// unless `declaring` is false: it exists already, perhaps with input arguments).
    static func fill(_ queue: String, count: Int, amqp: AMQPConfiguration, declaring: Bool = true) async throws {
        let publisher = AMQPPublisher(configuration: amqp, declareQueues: declaring ? [queue] : [])
        defer { publisher.beginGracefulShutdown() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            var running = 0
            while next < count || running > 0 {
                while running < 1024 && next < count {
                    let body = Self.body(next)
                    group.addTask {
                        let result = await publisher.publish(OutboundMessage(body: body, target: .queue(queue)))
                        guard case .confirmed = result else { throw ValidationError("fill failed: \(result)") }
                    }
                    next += 1
                    running += 1
                }
                try await group.next()
                running -= 1
            }
        }
    }

    /// Drains a pre-filled queue through `handler`; returns messages per second.
    func throughput(
        _ amqp: AMQPConfiguration, label: String,
        handler: (Queues, AMQPPublisher) throws -> @Sendable (InboundMessage) async -> Void
    ) async throws -> Double {
        let queues = Queues()
        defer {
            for q in [queues.input, queues.output, queues.dead] { try? AMQPAdmin.deleteQueue(q, configuration: amqp) }
        }
        try await Self.fill(queues.input, count: messages, amqp: amqp)
        // Start every run on an idle server: earlier runs leave persistence and clean-up work.
        await Self.waitForIdleRabbitMQ()
        let publisher = AMQPPublisher(configuration: amqp, declareQueues: [queues.output, queues.dead])
        defer { publisher.beginGracefulShutdown() }
        let handle = try handler(queues, publisher)
        let consumer = AMQPConsumer(configuration: amqp, queue: queues.input, prefetch: prefetch)
        let settled = Counter()
        let cpuBefore = (Self.cpuSeconds(getpid()), Self.rabbitPID.map(Self.cpuSeconds) ?? 0)
        let start = ContinuousClock.now
        let total = messages
        await withDiscardingTaskGroup { group in
            for await message in consumer.messages {
                group.addTask {
                    await handle(message)
                    if settled.increment() == total { consumer.beginGracefulShutdown() }
                }
            }
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(messages) / seconds
        let ours = Self.cpuSeconds(getpid()) - cpuBefore.0
        let rabbitCPU = (Self.rabbitPID.map(Self.cpuSeconds) ?? 0) - cpuBefore.1
        print(
            String(
                format: "%@: %.0f msg/s (%d messages in %.2f s; CPU: this process %.0f µs/msg, RabbitMQ %.0f µs/msg)",
                label, rate, messages, seconds, ours / Double(messages) * 1e6, rabbitCPU / Double(messages) * 1e6))
        return rate
    }

    /// Publishes at `rate` for `latencySeconds` through a running broker; prints percentiles of
    /// the time from publish to arrival on the output queue.
    func latency(_ amqp: AMQPConfiguration, rate: Double, ruleText: String, agents: AgentRegistry) async throws {
        let queues = Queues()
        defer {
            for q in [queues.input, queues.output, queues.dead] { try? AMQPAdmin.deleteQueue(q, configuration: amqp) }
        }
        await Self.waitForIdleRabbitMQ()
        let routerPublisher = AMQPPublisher(configuration: amqp, declareQueues: [queues.output, queues.dead])
        let router = MessageRouter(
            rules: RuleSetHolder(try Self.redirect(ruleText, queues)), registry: agents, output: routerPublisher)
        let input = AMQPConsumer(configuration: amqp, queue: queues.input, prefetch: prefetch)
        let output = AMQPConsumer(configuration: amqp, queue: queues.output, prefetch: 1000)
        let producer = AMQPPublisher(configuration: amqp, declareQueues: [queues.input])
        let routing = Task { await router.run(input) }
        let total = Int(rate) * latencySeconds
        let histogram = LatencyHistogram()
        let received = Counter()
        let reading = Task {
            for await message in output.messages {
                let now = DispatchTime.now().uptimeNanoseconds
                if let sent = message.headers["x-bench-sent"]?.text.flatMap(UInt64.init) {
                    histogram.record(microseconds: (now &- sent) / 1000)
                }
                message.settlement.ack()
                if received.increment() == total { output.beginGracefulShutdown() }
            }
        }
        let interval = 1.0 / rate
        let start = DispatchTime.now().uptimeNanoseconds
        await withDiscardingTaskGroup { group in
            for i in 0..<total {
                let due = start + UInt64(Double(i) * interval * 1e9)
                let now = DispatchTime.now().uptimeNanoseconds
                if due > now { try? await Task.sleep(for: .nanoseconds(Int64(due - now))) }
                let headers: Headers = ["x-bench-sent": HeaderValue(String(DispatchTime.now().uptimeNanoseconds))]
                group.addTask {
                    _ = await producer.publish(
                        OutboundMessage(
                            body: Self.body(i), target: .queue(queues.input),
                            properties: MessageProperties(headers: headers)))
                }
            }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while received.value < total && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        output.beginGracefulShutdown()
        input.beginGracefulShutdown()
        await routing.value
        await reading.value
        producer.beginGracefulShutdown()
        routerPublisher.beginGracefulShutdown()
        let h = histogram.snapshot
        func ms(_ p: Double) -> String { String(format: "%.2f", Double(h.valueAtPercentile(p)) / 1000) }
        print(
            String(format: "latency at %.0f msg/s, %d messages: ", rate, Int(h.totalCount))
                + "p50 \(ms(50)) ms, p90 \(ms(90)) ms, p99 \(ms(99)) ms, p99.9 \(ms(99.9)) ms, max \(String(format: "%.2f", Double(h.max) / 1000)) ms"
        )
    }

    /// Starts `broker run` on a queue holding `memoryMessages` messages and samples its RSS.
    func memory(_ amqp: AMQPConfiguration, ruleText: String) async throws {
        let queues = Queues()
        defer {
            for q in [queues.input, queues.output, queues.dead] { try? AMQPAdmin.deleteQueue(q, configuration: amqp) }
        }
        print("filling \(memoryMessages) messages for the memory run…")
        try await Self.fill(queues.input, count: memoryMessages, amqp: amqp)
        let files = try RunFiles(queues: queues, ruleText: ruleText)
        defer { files.remove() }
        let process = Process()
        process.executableURL = BrokerExecutable.url
        process.arguments =
            files.runArguments(input: queues.input) + [
                "--prefetch", String(prefetch), "--transport", amqp.url,
            ]
        process.standardError = FileHandle.nullDevice
        try process.run()
        var peak = 0
        for _ in 0..<40 {
            try await Task.sleep(for: .milliseconds(250))
            peak = max(peak, Self.residentKilobytes(process.processIdentifier))
        }
        let remaining = (try? AMQPAdmin.messageCount(queues.input, configuration: amqp)) ?? -1
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        print(
            "memory: broker run peak RSS \(peak / 1024) MB over 10 s with \(memoryMessages) messages queued (\(remaining) still waiting at the end)"
        )
    }

    /// Waits (up to 60 s) until RabbitMQ uses under 5% of a core over half a second.
    static func waitForIdleRabbitMQ() async {
        guard let pid = rabbitPID else { return }
        for _ in 0..<120 {
            let before = cpuSeconds(pid)
            try? await Task.sleep(for: .milliseconds(500))
            if cpuSeconds(pid) - before < 0.025 { return }
        }
    }

    /// RabbitMQ's Erlang VM on this machine, if there is one.
    static let rabbitPID: Int32? = {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = Int32(entry), let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
            else {
                continue
            }
            if comm.hasPrefix("beam") { return pid }
        }
        return nil
    }()

    /// User + system CPU seconds of process `pid` so far.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func residentKilobytes(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
