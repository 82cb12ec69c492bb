import AMQPTransport
import ArgumentParser
import Foundation

/// `broker-dev bench-floor`: what a routed message costs `broker run` in CPU, against the floor
/// — a relay in C over rabbitmq-c that consumes, publishes with confirms and acks, nothing
/// else (`Benchmarks/Floor/c-relay.c`, built by `make c-relay`) — and against a hand-written
/// Swift loop that also decides with the rules (``SwiftLoop``), each draining the same kind of
/// pre-filled queue in the same run, with what RabbitMQ spends meanwhile.
public struct BenchFloor: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "bench-floor",
        abstract: "Measure `broker run`'s CPU per message against a C relay over rabbitmq-c.",
        discussion: """
            Each round fills a fresh queue (bench_<id>_*) with --messages persistent messages on \
            the RabbitMQ of RABBITMQ_URL and drains it with the C relay; then another with the \
            hand-written Swift loop (one thread: consume, decide with the rules, publish with \
            confirms, ack per batch); then another with `broker run` (the `broker` beside this \
            executable, or BROKER_BIN; --registry with 3 agents, the given rules). CPU is user + system time of the relay or \
            broker process and of every RabbitMQ VM on this machine (beam), from the first routed \
            message to the last: start-up is not counted. `make bench-floor` builds both and runs it.
            """
    )

    @Option(help: "Messages per drain.")
    var messages = 50_000

    @Option(help: "Prefetch of both (the relay waits for the confirms of at most this many at once).")
    var prefetch = 256

    @Option(help: "Rounds of (relay, broker) drains.")
    var rounds = 2

    @Option(help: "Rule file of the broker run (its output and dead-letter queues are redirected).")
    var rules = "rules/default.yaml"

    @Option(help: "The C relay (default: C_RELAY_BIN, or c-relay beside this executable or in .build).")
    var relay: String?

    public func run() async throws {
        let amqp = try AMQPConfiguration.fromEnvironment()
        let relayURL = try relayExecutable()
        let ruleText = try String(contentsOfFile: rules, encoding: .utf8)
        print("broker bench-floor: \(messages) messages, prefetch \(prefetch), RabbitMQ \(amqp)")
        var relays: [DrainRun.Result] = []
        var loops: [DrainRun.Result] = []
        var brokers: [DrainRun.Result] = []
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        for round in 1...max(1, rounds) {
            print("round \(round):")
            let floor = try await FloorRun(messages: messages, prefetch: prefetch, command: [relayURL.path]).measure(
                amqp: amqp)
            print("  C relay:    \(Self.describe(floor))")
            relays.append(floor)
            let loop = try await FloorRun(
                messages: messages, prefetch: prefetch, command: [own.path, "swift-loop", "--rules", rules]
            ).measure(amqp: amqp)
            print("  Swift loop: \(Self.describe(loop))")
            loops.append(loop)
            let broker = try await DrainRun(messages: messages, prefetch: prefetch).measure(
                replicas: 1, amqp: amqp, ruleText: ruleText)
            print("  broker run: \(Self.describe(broker))")
            brokers.append(broker)
        }
        // The least CPU of each: what a run costs when the machine does not get in the way.
        let relayCPU = relays.map(\.brokerCPU).min() ?? 0
        let loopCPU = loops.map(\.brokerCPU).min() ?? 0
        let brokerCPU = brokers.map(\.brokerCPU).min() ?? 0
        let relayRate = relays.map(\.rate).max() ?? 0
        let brokerRate = brokers.map(\.rate).max() ?? 0
        print(
            String(
                format:
                    "best: CPU per message broker %.1f µs, Swift loop %.1f µs, C relay %.1f µs: the broker is %.1fx the floor and %.2fx the Swift loop; throughput broker %.0f msg/s, C relay %.0f msg/s (%.2fx)",
                brokerCPU * 1e6, loopCPU * 1e6, relayCPU * 1e6, brokerCPU / max(relayCPU, 1e-12),
                brokerCPU / max(loopCPU, 1e-12), brokerRate, relayRate, brokerRate / max(relayRate, 1e-12)))
    }

    static func describe(_ result: DrainRun.Result) -> String {
        String(
            format: "%.0f msg/s, CPU %.1f µs per message (RabbitMQ %.1f µs)", result.rate, result.brokerCPU * 1e6,
            result.rabbitCPU * 1e6)
    }

    /// `--relay`, `C_RELAY_BIN`, or the first `c-relay` that exists beside this executable or in
    /// `.build` (where `make c-relay` puts it).
    func relayExecutable() throws -> URL {
        if let relay { return URL(fileURLWithPath: relay) }
        if let path = ProcessInfo.processInfo.environment["C_RELAY_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.deletingLastPathComponent()
        let candidates = [own.appendingPathComponent("c-relay"), URL(fileURLWithPath: ".build/c-relay")]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw ValidationError("no C relay: build it with `make c-relay`, or give --relay PATH")
        }
        return found
    }
}

/// One drain by a relay process that prints the C relay's line (`c-relay`, `broker-dev
/// swift-loop`): a fresh queue of `messages` persistent messages relayed to an output queue.
struct FloorRun {
    var messages: Int
    var prefetch: Int
    /// The executable and its first arguments; the URL, queues, count and prefetch follow.
    var command: [String]

    func measure(amqp: AMQPConfiguration) async throws -> DrainRun.Result {
        let queues = Bench.Queues()
        defer {
            for q in [queues.input, queues.output] { try? AMQPAdmin.deleteQueue(q, configuration: amqp) }
        }
        print("  filling \(messages) messages…")
        try AMQPAdmin.declareQueues([queues.input, queues.output], configuration: amqp)
        try await Bench.fill(queues.input, count: messages, amqp: amqp, declaring: false)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments =
            command.dropFirst() + [amqp.url, queues.input, queues.output, String(messages), String(prefetch)]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        // The relay's own CPU (getrusage from its first delivery to its last ack) is what it prints;
        // RabbitMQ's is sampled here over the same drain.
        var rabbitStart: Double?
        let deadline = ContinuousClock.now + .seconds(600)
        while process.isRunning && ContinuousClock.now < deadline {
            let routed = (try? AMQPAdmin.messageCount(queues.output, configuration: amqp)) ?? 0
            if routed > 0 && rabbitStart == nil { rabbitStart = BenchReplicas.rabbitCPU() }
            try await Task.sleep(for: .milliseconds(20))
        }
        let rabbitEnd = BenchReplicas.rabbitCPU()
        process.waitUntilExit()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0, let line = printed.split(separator: "\n").last else {
            let reason = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw ValidationError("\(command[0]) failed (status \(process.terminationStatus)): \(reason)")
        }
        return try Self.result(of: String(line), rabbitCPU: rabbitEnd - (rabbitStart ?? rabbitEnd), messages: messages)
    }

    /// Reads `NAME: N messages in W s, CPU C s: X us per message`.
    static func result(of line: String, rabbitCPU: Double, messages: Int) throws -> DrainRun.Result {
        let words = line.split(separator: " ")
        guard words.count >= 9, let count = Double(words[1]), let wall = Double(words[4]),
            let cpu = Double(words[7])
        else { throw ValidationError("the relay printed something else: \(line)") }
        return DrainRun.Result(
            rate: count / max(wall, 1e-3), brokerCPU: cpu / max(count, 1), rabbitCPU: rabbitCPU / Double(messages))
    }
}
