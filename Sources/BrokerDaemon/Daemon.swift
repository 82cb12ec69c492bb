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
    /// Where the agent server announces `SERVER_AVAILABLE` ('' to ignore).
    public var advertisementQueue = "server_advertisement_queue"
    /// Follow a `websocket_url` in `SERVER_AVAILABLE` that differs from the configured one.
    public var followAdvertisedURL = false
    public var prefetch: UInt16 = 256
    public var router = RouterConfiguration()
    public var watchRules = true
    public var drainTimeout: Duration = .seconds(10)
    public var admin = AdminServer.Configuration()
    public var statusFeed = GRPCStatusFeed.Configuration()
    /// Retry delays of the agent-server link (its URL and name come from ``agents``).
    public var serverLink = WebSocketServerLink.Configuration()

    public init(transport: Transport) { self.transport = transport }
}

/// The running broker: status feed → registry, input → router → output, hot reload, admin HTTP.
///
/// The input starts paused and flows only while the registry is synced with the agent server
/// (see ``BrokerRouter/RoutingGate``): nothing is decided on a registry that is empty or belongs
/// to a server registration that is gone.
public final class Daemon: Sendable {
    public let configuration: DaemonConfiguration
    public let registry: AgentRegistry
    public let reloader: RuleReloader
    public let telemetry: Telemetry
    public let router: Router
    private let logger: Logger
    private let input: any InboundSource
    private let metadata: (any InboundSource)?
    private let advertisements: (any InboundSource)?
    private let publisher: AMQPPublisher?
    private let consumer: AMQPConsumer?
    private let link: WebSocketServerLink?
    private let feed: GRPCStatusFeed?
    private let staticFeed: StaticStatusFeed?
    private let watcher: Mutex<RuleWatcher?> = Mutex(nil)
    private let stopping = Atomic(false)
    private let background = Mutex<[Task<Void, Never>]>([])
    private let routing = Mutex<Task<Void, Never>?>(nil)
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
            var linkConfiguration = configuration.serverLink
            linkConfiguration.url = url
            linkConfiguration.brokerName = name
            let link = WebSocketServerLink(configuration: linkConfiguration)
            self.link = link
            feed = GRPCStatusFeed(registry: registry, events: link.events, configuration: configuration.statusFeed)
            staticFeed = nil
        }
        var refresh: (@Sendable (String) -> Void)?
        if let feed = self.feed {
            refresh = { id in Task { await feed.refresh(forUnknownAgent: id) } }
        }
        telemetry = Telemetry(onUnknownAgent: refresh)
        let output: any OutboundSink
        let hasServer = link != nil
        switch configuration.transport {
        case .amqp(let amqp):
            var queues: Set<String> = [reloader.holder.current.deadLetterQueue]
            if case .queue(let name) = reloader.holder.current.defaultOutput { queues.insert(name) }
            let publisher = AMQPPublisher(configuration: amqp, declareQueues: queues.sorted())
            let consumer = AMQPConsumer(
                configuration: amqp, queue: configuration.inputQueue, prefetch: configuration.prefetch,
                drainTimeout: configuration.drainTimeout, paused: true)
            self.publisher = publisher
            self.consumer = consumer
            output = publisher
            input = consumer
            metadata =
                configuration.metadataQueue.isEmpty
                ? nil : AMQPConsumer(configuration: amqp, queue: configuration.metadataQueue, prefetch: 64)
            advertisements =
                configuration.advertisementQueue.isEmpty || !hasServer
                ? nil : AMQPConsumer(configuration: amqp, queue: configuration.advertisementQueue, prefetch: 16)
        case .memory(let queues):
            publisher = nil
            consumer = nil
            output = queues.sink
            input = queues.consumer(of: configuration.inputQueue, prefetch: Int(configuration.prefetch), paused: true)
            metadata =
                configuration.metadataQueue.isEmpty
                ? nil : queues.consumer(of: configuration.metadataQueue, prefetch: 64)
            advertisements =
                configuration.advertisementQueue.isEmpty || !hasServer
                ? nil : queues.consumer(of: configuration.advertisementQueue, prefetch: 16)
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
        let status = registry.sync.status
        let since = ISO8601DateFormatter().string(from: status.since)
        switch router.routingGate.verdict(status) {
        case .route(let until?):
            checks.append(("registry", true, "stale since \(since), routing until \(Self.format(until))"))
        case .route(nil):
            checks.append(("registry", true, "\(status.state.rawValue) since \(since)"))
        case .wait(let reason):
            checks.append(("registry", false, "\(status.state.rawValue) since \(since): \(reason); routing paused"))
        case .deadLetter(let code, _):
            checks.append(("registry", false, "\(status.state.rawValue) since \(since): dead-lettering as \(code)"))
        }
        if let consumer, let publisher {
            checks.append(
                (
                    "rabbitmq", consumer.isConnected && publisher.isConnected,
                    consumer.isConnected && publisher.isConnected ? "connected" : "disconnected"
                ))
        }
        return checks
    }

    private static func format(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

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
            result.append(("grpc", registry.sync.state != .unsynced))
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
            tasks.append(Task { await feed.run() })
        }
        if let metadata {
            let handler = MetadataHandler(registry: registry)
            tasks.append(Task { await handler.run(metadata) })
        }
        if let advertisements, let link {
            let handler = ServerAdvertisementHandler(link: link, follow: configuration.followAdvertisedURL)
            tasks.append(Task { await handler.run(advertisements) })
        }
        let gate = router.routingGate
        let input = self.input
        let logger = self.logger
        tasks.append(Task { await gate.controlFlow(of: input) { Self.log($0, logger: logger) } })
        background.withLock { $0 = tasks }
        try await admin.start(daemon: self)
        logger.info(
            "broker running", metadata: ["rules": "\(reloader.status.hash.prefix(12))", "admin": "\(admin.address)"])
        let router = self.router
        let routing = Task { await router.run(input) }
        self.routing.withLock { $0 = routing }
        if stopping.load(ordering: .acquiring) { scheduleDrainDeadline() }
        await routing.value
        logger.info("drained", metadata: ["settled": "\(router.statistics.settled)"])
        await shutDownRest()
    }

    private static func log(_ verdict: RoutingGate.Verdict, logger: Logger) {
        switch verdict {
        case .route(nil): logger.info("routing: the registry is synced with the agent server")
        case .route(let until?):
            logger.warning(
                "status stream down; routing on the last agent list for now",
                metadata: ["until": "\(format(until))"])
        case .wait(let reason):
            logger.warning("routing paused: the registry is not synced", metadata: ["reason": "\(reason)"])
        case .deadLetter(let code, let reason):
            logger.error(
                "registry not synced: dead-lettering every message",
                metadata: ["code": "\(code)", "reason": "\(reason)"])
        }
    }

    /// Stops consuming; ``run()`` returns once in-flight messages are done, or when the drain
    /// deadline passes (what is unsettled then is left for redelivery).
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        logger.info("stopping: draining in-flight messages", metadata: ["deadline": "\(configuration.drainTimeout)"])
        input.stop()
        metadata?.stop()
        advertisements?.stop()
        scheduleDrainDeadline()
    }

    private func scheduleDrainDeadline() {
        guard let routing = routing.withLock({ $0 }) else { return }
        let deadline = configuration.drainTimeout
        let publisher = self.publisher
        let logger = self.logger
        Task {
            try? await Task.sleep(for: deadline)
            guard !routing.isCancelled else { return }
            logger.warning("drain deadline passed: leaving unsettled messages for redelivery")
            routing.cancel()
            publisher?.close()
        }
    }

    private func shutDownRest() async {
        watcher.withLock { $0?.stop() }
        // Acknowledgements of the drained messages must reach RabbitMQ before anything closes.
        await consumer?.closed()
        for source in [metadata, advertisements] {
            if let source = source as? AMQPConsumer { await source.closed() }
        }
        publisher?.close()
        let tasks = background.withLock { $0 }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        await admin.stop()
    }
}
