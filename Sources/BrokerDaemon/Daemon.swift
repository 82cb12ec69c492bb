import AMQPTransport
import AgentStatusGRPC
import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import Logging
import RoutingRules
import ServerLinkWebSocket
import Synchronization

/// Everything `broker run` needs to know.
public struct DaemonConfiguration: Sendable {
    /// Where messages come from and go to.
    public enum Transport: Sendable {
        case amqp(AMQPConfiguration)
        case memory(InMemoryQueues)
    }

    /// Where the agent registry comes from.
    public enum Agents: Sendable {
        /// The agent server: WebSocket registration + gRPC status stream.
        case server(url: String, brokerName: String)
        /// A registry snapshot file.
        case file(String)
    }

    public var rules = ["rules"]
    public var agents = Agents.server(url: "ws://localhost:8765/ws", brokerName: "broker")
    public var transport: Transport
    public var inputQueue = "broker_input_queue"
    public var metadataQueue = "agent_metadata_queue"
    public var prefetch: UInt16 = 256
    public var router = RouterConfiguration()
    public var watchRules = true
    public var drainTimeout: Duration = .seconds(10)
    public var admin = AdminServer.Configuration()
    public var statusFeed = GRPCStatusFeed.Configuration()
    public var serverLinkBackoff: (base: Duration, cap: Duration) = (.milliseconds(500), .seconds(30))

    public init(transport: Transport) { self.transport = transport }
}

/// The running broker: status feed → registry, input → router → output, hot reload, admin HTTP.
public final class Daemon: Sendable {
    public let configuration: DaemonConfiguration
    public let registry: AgentRegistry
    public let reloader: RuleReloader
    public let telemetry: Telemetry
    public let router: Router
    private let logger: Logger
    private let input: any InboundSource
    private let metadata: (any InboundSource)?
    private let publisher: AMQPPublisher?
    private let consumer: AMQPConsumer?
    private let link: WebSocketServerLink?
    private let feed: GRPCStatusFeed?
    private let staticFeed: StaticStatusFeed?
    private let watcher: Mutex<RuleWatcher?> = Mutex(nil)
    private let stopping = Atomic(false)
    private let background = Mutex<[Task<Void, Never>]>([])
    /// The admin HTTP server.
    public let admin: AdminServer

    /// Builds the daemon; throws ``RuleReloader/InvalidRules`` when the rules are invalid.
    public init(configuration: DaemonConfiguration, logger: Logger = Logger(label: "broker")) throws {
        self.configuration = configuration
        self.logger = logger
        let registry = AgentRegistry()
        self.registry = registry
        reloader = try RuleReloader(paths: configuration.rules, registry: registry)
        switch configuration.agents {
        case .file(let path):
            staticFeed = try StaticStatusFeed(path: path, registry: registry)
            link = nil
            feed = nil
        case .server(let url, let name):
            var linkConfiguration = WebSocketServerLink.Configuration()
            linkConfiguration.url = url
            linkConfiguration.brokerName = name
            linkConfiguration.backoffBase = configuration.serverLinkBackoff.base
            linkConfiguration.backoffCap = configuration.serverLinkBackoff.cap
            link = WebSocketServerLink(configuration: linkConfiguration)
            feed = GRPCStatusFeed(registry: registry, configuration: configuration.statusFeed)
            staticFeed = nil
        }
        var refresh: (@Sendable (String) -> Void)?
        if let feed = self.feed {
            refresh = { id in Task { await feed.refresh(forUnknownAgent: id) } }
        }
        telemetry = Telemetry(onUnknownAgent: refresh)
        let output: any OutboundSink
        switch configuration.transport {
        case .amqp(let amqp):
            var queues: Set<String> = [reloader.holder.current.deadLetterQueue]
            if case .queue(let name) = reloader.holder.current.defaultOutput { queues.insert(name) }
            let publisher = AMQPPublisher(configuration: amqp, declareQueues: queues.sorted())
            let consumer = AMQPConsumer(
                configuration: amqp, queue: configuration.inputQueue, prefetch: configuration.prefetch,
                drainTimeout: configuration.drainTimeout)
            self.publisher = publisher
            self.consumer = consumer
            output = publisher
            input = consumer
            metadata =
                configuration.metadataQueue.isEmpty
                ? nil : AMQPConsumer(configuration: amqp, queue: configuration.metadataQueue, prefetch: 64)
        case .memory(let queues):
            publisher = nil
            consumer = nil
            output = queues.sink
            input = queues.consumer(of: configuration.inputQueue, prefetch: Int(configuration.prefetch))
            metadata =
                configuration.metadataQueue.isEmpty
                ? nil : queues.consumer(of: configuration.metadataQueue, prefetch: 64)
        }
        router = Router(
            rules: reloader.holder, registry: registry, output: output, configuration: configuration.router,
            observer: telemetry)
        admin = AdminServer(configuration: configuration.admin)
    }

    /// Readiness, check by check (`/readyz`).
    public var readiness: [(check: String, ok: Bool, detail: String)] {
        var checks: [(String, Bool, String)] = [("rules", true, String(reloader.status.hash.prefix(12)))]
        if let link {
            switch link.state {
            case .registered(let r): checks.append(("agent_server", true, r.brokerID))
            case .connecting: checks.append(("agent_server", false, "connecting"))
            case .disconnected(let reason): checks.append(("agent_server", false, reason))
            }
        }
        let healthy = registry.health.isHealthy
        checks.append(("registry", healthy, healthy ? "synced" : "status feed down or not synced"))
        if let consumer, let publisher {
            checks.append(
                (
                    "rabbitmq", consumer.isConnected && publisher.isConnected,
                    consumer.isConnected && publisher.isConnected ? "connected" : "disconnected"
                ))
        }
        return checks
    }

    /// Connection states for `/metrics`.
    var connections: [(String, Bool)] {
        var result: [(String, Bool)] = []
        if let consumer, let publisher {
            result.append(("rabbitmq_consumer", consumer.isConnected))
            result.append(("rabbitmq_publisher", publisher.isConnected))
        }
        if let link {
            let registered = if case .registered = link.state { true } else { false }
            result.append(("websocket", registered))
            result.append(("grpc", registry.health.isHealthy))
        }
        return result
    }

    /// Runs until ``stop()``: returns after in-flight messages are settled (or the drain
    /// deadline passed) and everything is closed.
    public func run() async throws {
        if configuration.watchRules {
            let reloader = self.reloader
            watcher.withLock {
                $0 = try? RuleWatcher(paths: configuration.rules) { reloader.reload(reason: "file change") }
            }
        }
        var tasks: [Task<Void, Never>] = []
        if let link, let feed {
            tasks.append(Task { await link.run() })
            tasks.append(Task { await feed.run(registrations: link.registrations) })
        }
        if let metadata {
            let handler = MetadataHandler(registry: registry)
            tasks.append(Task { await handler.run(metadata) })
        }
        background.withLock { $0 = tasks }
        try await admin.start(daemon: self)
        logger.info(
            "broker running", metadata: ["rules": "\(reloader.status.hash.prefix(12))", "admin": "\(admin.address)"])
        await router.run(input)
        logger.info("drained", metadata: ["settled": "\(router.statistics.settled)"])
        await shutDownRest()
    }

    /// Stops consuming; ``run()`` returns once in flight messages are done.
    public func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        logger.info("stopping: draining in-flight messages", metadata: ["deadline": "\(configuration.drainTimeout)"])
        input.stop()
        metadata?.stop()
    }

    private func shutDownRest() async {
        watcher.withLock { $0?.stop() }
        // Acknowledgements of the drained messages must reach RabbitMQ before anything closes.
        await consumer?.closed()
        if let metadata = metadata as? AMQPConsumer { await metadata.closed() }
        publisher?.close()
        let tasks = background.withLock { $0 }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        await admin.stop()
    }
}
