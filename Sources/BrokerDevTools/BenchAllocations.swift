import AMQPTransport
import ArgumentParser
import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import InMemoryTransport
import RoutingRules

/// `broker-dev bench-allocations`: heap allocations per routed message, end to end through the
/// pipeline (input → router → output → settlement), counted by a preloaded allocator wrapper
/// (`Benchmarks/Floor/count-allocations.c`; `make bench-allocations` builds it and runs this).
public struct BenchAllocations: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "bench-allocations",
        abstract: "Count heap allocations per routed message through the whole pipeline.",
        discussion: """
            Routes --messages messages with rules/default.yaml on 3 agents, once through in-memory \
            queues (the router, its tasks and settlement, nothing of a network) and, with --amqp, \
            once through RabbitMQ (RABBITMQ_URL: the consumer and publisher threads, rabbitmq-c \
            and the property codec as well), and prints allocations per message: everything the \
            process allocated between the first message taken and the last settled, divided by \
            the messages. Needs the counter preloaded: run it with `make bench-allocations`.
            """
    )

    @Option(help: "Messages per run.")
    var messages = 20_000

    @Option(help: "Rule file.")
    var rules = "rules/default.yaml"

    @Flag(help: "Also run through RabbitMQ (RABBITMQ_URL).")
    var amqp = false

    public func run() async throws {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "broker_allocation_count") else {
            throw ValidationError("no allocation counter: run it with `make bench-allocations`")
        }
        let count = unsafeBitCast(symbol, to: (@convention(c) () -> UInt64).self)
        let ruleText = try String(contentsOfFile: rules, encoding: .utf8)
        print("broker bench-allocations: \(messages) messages, \(rules), 3 agents")
        let inMemory = try await Self.inMemory(messages: messages, ruleText: ruleText, count: count)
        print(String(format: "  in-memory queues: %.1f allocations per routed message", inMemory))
        if amqp {
            let onRabbitMQ = try await Self.onRabbitMQ(messages: messages, ruleText: ruleText, count: count)
            print(String(format: "  RabbitMQ:         %.1f allocations per routed message", onRabbitMQ))
        }
    }

    static func inMemory(messages: Int, ruleText: String, count: () -> UInt64) async throws -> Double {
        let ruleSet = try Bench.compile(ruleText)
        let queues = InMemoryQueues()
        for i in 0..<messages { queues.enqueue(Bench.body(i), to: "broker_input_queue") }
        let router = MessageRouter(rules: RuleSetHolder(ruleSet), registry: Bench.threeAgents(), output: queues.sink)
        let consumer = queues.consumer(of: "broker_input_queue", prefetch: 256)
        let before = count()
        let routing = Task { await router.run(consumer) }
        while router.statistics.settled < messages { try await Task.sleep(for: .milliseconds(1)) }
        let after = count()
        consumer.beginGracefulShutdown()
        await routing.value
        return Double(after - before) / Double(messages)
    }

    static func onRabbitMQ(messages: Int, ruleText: String, count: () -> UInt64) async throws -> Double {
        let amqp = try AMQPConfiguration.fromEnvironment()
        let queues = Bench.Queues()
        defer {
            for q in [queues.input, queues.output, queues.dead] { try? AMQPAdmin.deleteQueue(q, configuration: amqp) }
        }
        try await Bench.fill(queues.input, count: messages, amqp: amqp)
        let publisher = AMQPPublisher(configuration: amqp, declareQueues: [queues.output, queues.dead])
        defer { publisher.beginGracefulShutdown() }
        let router = MessageRouter(
            rules: RuleSetHolder(try Bench.redirect(ruleText, queues)), registry: Bench.threeAgents(), output: publisher
        )
        let consumer = AMQPConsumer(configuration: amqp, queue: queues.input, prefetch: 256)
        let routing = Task { await router.run(consumer) }
        // From the first message taken: connecting is not counted.
        while router.statistics.settled == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let (before, first) = (count(), router.statistics.settled)
        while router.statistics.settled < messages { try await Task.sleep(for: .milliseconds(1)) }
        let (after, last) = (count(), router.statistics.settled)
        consumer.beginGracefulShutdown()
        await routing.value
        return Double(after - before) / Double(max(1, last - first))
    }
}
