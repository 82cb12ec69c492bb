import AMQPTransport
import ArgumentParser
import BrokerCore
import BrokerRouter
import BrokerTransports
import Dispatch
import Foundation
import Logging
import RoutingRules

/// `broker route`: the routing pipeline on RabbitMQ, with the registry from a snapshot file.
struct Route: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Route messages from RabbitMQ with the rules and a registry snapshot file.",
        discussion: """
            Consumes the input queue, decides with the rules, publishes to the rules' outputs with
            publisher confirms, and acknowledges each input only after its output is confirmed.
            Status updates on the input queue and REGISTER_AGENT/CLIENT_DISCONNECTED on the metadata
            queue update the registry. The live agent-server link comes with `broker run`.

            RabbitMQ: RABBITMQ_URL (amqp:// or amqps://), or RABBITMQ_HOST (default localhost) and
            RABBITMQ_PORT (default 5672), guest/guest on vhost /. SIGTERM or SIGINT stop consuming,
            finish and confirm what is in flight, and exit 0.
            """
    )

    @Option(help: "Rule file or directory.")
    var rules: String = "rules"

    @Option(help: "Registry snapshot file (YAML or JSON, the AgentStatusResponse shape).")
    var registry: String

    @Option(help: "Queue to route from.")
    var inputQueue: String = "broker_input_queue"

    @Option(help: "Queue of REGISTER_AGENT / CLIENT_DISCONNECTED control messages ('' to skip).")
    var metadataQueue: String = "agent_metadata_queue"

    @Option(help: "Most unacknowledged messages at once (basic.qos prefetch).")
    var prefetch: UInt16 = 256

    @Option(help: "Largest message body routed; larger ones are dead-lettered.")
    var maxMessageSize: Int = Message.defaultMaximumSize

    @Option(help: "Routing hops after which a message is dead-lettered as a cycle.")
    var maxHops: Int = 10

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "broker.route")
        let ruleSet = try loadRuleSet(rules)
        let agents = AgentRegistry(indexedMetrics: ruleSet.indexedMetricKeys)
        do {
            _ = try StaticStatusFeed(path: registry, registry: agents)
        } catch {
            printError("error: \(error)")
            throw ExitCode(Status.usage)
        }
        let snapshot = agents.snapshot
        let amqp: AMQPConfiguration
        do {
            amqp = try AMQPConfiguration.fromEnvironment()
        } catch {
            printError("error: \(error)")
            throw ExitCode(Status.usage)
        }
        var outputs: Set<String> = [ruleSet.deadLetterQueue]
        if case .queue(let name) = ruleSet.defaultOutput { outputs.insert(name) }
        let publisher = AMQPPublisher(configuration: amqp, declareQueues: outputs.sorted())
        let consumer = AMQPConsumer(configuration: amqp, queue: inputQueue, prefetch: prefetch)
        let metadata =
            metadataQueue.isEmpty ? nil : AMQPConsumer(configuration: amqp, queue: metadataQueue, prefetch: 64)
        var configuration = RouterConfiguration()
        configuration.maximumMessageSize = maxMessageSize
        configuration.maximumHops = maxHops
        let router = Router(
            rules: RuleSetHolder(ruleSet), registry: agents, output: publisher, configuration: configuration)
        logger.info(
            "routing",
            metadata: [
                "input": "\(inputQueue)", "rules": "\(ruleSet.hash.prefix(12))", "server": "\(amqp)",
                "agents": "\(snapshot.count)",
            ])

        let signals = SignalWatcher(signals: [SIGTERM, SIGINT]) { signal, count in
            if count > 1 {
                logger.warning("second signal: exiting at once")
                Foundation.exit(1)
            }
            logger.info("signal \(signal): draining")
            consumer.stop()
            metadata?.stop()
        }
        try runToCompletion {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await router.run(consumer) }
                if let metadata { group.addTask { await MetadataHandler(registry: agents).run(metadata) } }
            }
            // Acknowledgements of the drained messages must reach RabbitMQ before the exit.
            await consumer.closed()
            await metadata?.closed()
            publisher.close()
            let stats = router.statistics.snapshot
            logger.info(
                "stopped",
                metadata: [
                    "published": "\(stats.published)", "dead_lettered": "\(stats.deadLettered)",
                    "requeued": "\(stats.requeued)",
                ])
        }
        withExtendedLifetime(signals) {}
    }
}

/// Runs a handler on the main dispatch queue for each delivery of the given signals.
final class SignalWatcher {
    private var sources: [DispatchSourceSignal] = []

    init(signals: [Int32], handler: @escaping @Sendable (Int32, Int) -> Void) {
        let counter = Counter()
        for signal in signals {
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { handler(signal, counter.increment()) }
            source.resume()
            sources.append(source)
        }
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func increment() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}
