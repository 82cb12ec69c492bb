import AMQPTransport
import ArgumentParser
import Foundation

/// `broker-dev bench-replicas`: how fast 1, 2, 3… `broker run` replicas drain one input queue as
/// competing consumers, and what each message costs the brokers and RabbitMQ in CPU, so a
/// deployment can be sized from per-message figures.
public struct BenchReplicas: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "bench-replicas",
        abstract: "Measure `broker run` replicas draining one queue: throughput and CPU per message.",
        discussion: """
            For each replica count: fills a fresh input queue (bench_<id>_*) with --messages \
            messages on the RabbitMQ of RABBITMQ_URL (a comma-separated list: a cluster; replica i \
            starts on node i), starts that many `broker run --registry` processes of this \
            executable, and times the output from its first message to its last. CPU is user + \
            system time of the broker processes, and of every RabbitMQ VM on this machine (beam).
            """
    )

    @Option(help: "Messages per run.")
    var messages = 20_000

    @Option(help: "Replica counts to run, comma-separated.")
    var replicas = "1,2,3"

    @Option(help: "Queue type: classic or quorum.")
    var queueType = "classic"

    @Option(help: "Prefetch of each replica.")
    var prefetch = 256

    @Option(help: "Rule file (its output and dead-letter queues are redirected).")
    var rules = "rules/default.yaml"

    @Flag(
        help:
            "Declare the input single-active-consumer and run the replicas with --single-active-consumer: one routes, in input order."
    )
    var singleActiveConsumer = false

    @Option(help: "Shadow rules: each replica count runs twice, without and with --shadow-rules PATH.")
    var shadowRules: String?

    public func run() async throws {
        guard let kind = QueueSettings.Kind(rawValue: queueType) else {
            throw ValidationError("--queue-type must be classic or quorum")
        }
        let counts = replicas.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--replicas must list counts of 1 or more, e.g. 1,2,3")
        }
        var amqp = try AMQPConfiguration.fromEnvironment()
        amqp.queues = QueueSettings(kind: kind, singleActiveConsumer: singleActiveConsumer)
        let ruleText = try String(contentsOfFile: rules, encoding: .utf8)
        print(
            "broker bench-replicas: \(messages) messages, \(queueType) queues\(singleActiveConsumer ? " (single active consumer, in order)" : ""), prefetch \(prefetch), RabbitMQ \(amqp)"
        )
        let shadows: [String?] = shadowRules.map { [nil, $0] } ?? [nil]
        for count in counts {
            for shadow in shadows {
                await Bench.waitForIdleRabbitMQ()
                var arguments = ["--queue-type", queueType]
                if singleActiveConsumer { arguments.append("--single-active-consumer") }
                if let shadow { arguments += ["--shadow-rules", shadow] }
                let run = DrainRun(messages: messages, prefetch: prefetch, extraArguments: arguments)
                let result = try await run.measure(replicas: count, amqp: amqp, ruleText: ruleText)
                let perMessage = { (seconds: Double) in String(format: "%.1f µs", seconds * 1e6) }
                let label = shadowRules == nil ? "" : shadow == nil ? ", no shadow rules" : ", shadow rules"
                print(
                    String(format: "  %d replica%@%@: %.0f msg/s", count, count == 1 ? "" : "s", label, result.rate)
                        + "; CPU per message: brokers \(perMessage(result.brokerCPU)), RabbitMQ \(perMessage(result.rabbitCPU))"
                )
            }
        }
    }

    /// CPU seconds of every RabbitMQ VM (beam) on this machine so far.
    static func rabbitCPU() -> Double {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
        return entries.compactMap(Int32.init).filter { pid in
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("beam") == true
        }.reduce(0) { $0 + Bench.cpuSeconds($1) }
    }
}
