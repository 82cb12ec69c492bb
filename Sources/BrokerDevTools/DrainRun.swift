import AMQPTransport
import ArgumentParser
import Foundation

/// One measured drain: a fresh input queue filled with `messages` messages, `broker run`
/// replicas of this executable started on it, timed from the first routed message to the last,
/// with the CPU the brokers and RabbitMQ spent meanwhile (what `bench-replicas` and
/// `bench-console` report).
struct DrainRun {
    var messages: Int
    var prefetch: Int
    /// Agents in the replicas' `--registry` file.
    var agents = 3
    /// More `broker run` arguments.
    var extraArguments: [String] = []

    /// Messages per second, and CPU seconds per message.
    struct Result {
        var rate: Double
        var brokerCPU: Double
        var rabbitCPU: Double
    }

    /// Runs `replicas` brokers; `started` is called with their admin ports once they listen
    /// (the drain may have begun), and the drain is timed once it returns.
    func measure(
        replicas count: Int, amqp: AMQPConfiguration, ruleText: String,
        started: ([Int]) async throws -> Void = { _ in }
    ) async throws -> Result {
        let queues = Bench.Queues()
        defer {
            for q in [queues.input, queues.output, queues.dead] { try? AMQPAdmin.deleteQueue(q, configuration: amqp) }
        }
        print("  filling \(messages) messages…")
        try AMQPAdmin.declareQueues([queues.input], configuration: amqp, asInput: true)
        try await Bench.fill(queues.input, count: messages, amqp: amqp, declaring: false)
        let files = try Bench.RunFiles(queues: queues, ruleText: ruleText, agents: agents)
        defer { files.remove() }
        let ports = try (0..<count).map { _ in try Bench.freePort() }
        let processes = try (0..<count).map { index in
            let process = Process()
            process.executableURL = BrokerExecutable.url
            process.arguments =
                files.runArguments(input: queues.input, adminPort: ports[index]) + [
                    "--prefetch", String(prefetch), "--transport", amqp.startingAt(index).url,
                ] + extraArguments
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        defer {
            for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try await Bench.waitUntilAnswering(ports: ports, processes: processes)
        try await started(ports)
        // From the first routed message to the last: start-up is not counted, in time or CPU.
        let brokerCPU = { processes.reduce(0) { $0 + Bench.cpuSeconds($1.processIdentifier) } }
        var first: (at: ContinuousClock.Instant, routed: Int, brokers: Double, rabbit: Double)?
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            let routed = (try? AMQPAdmin.messageCount(queues.output, configuration: amqp)) ?? 0
            if routed > 0 && first == nil { first = (.now, routed, brokerCPU(), BenchReplicas.rabbitCPU()) }
            if routed >= messages { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard let first else { throw ValidationError("nothing was routed within 600 s") }
        let elapsed = ContinuousClock.now - first.at
        let measured = Double(max(1, messages - first.routed))
        let brokers = (brokerCPU() - first.brokers) / measured
        let rabbit = (BenchReplicas.rabbitCPU() - first.rabbit) / measured
        for process in processes {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Result(rate: measured / max(seconds, 1e-3), brokerCPU: brokers, rabbitCPU: rabbit)
    }
}
