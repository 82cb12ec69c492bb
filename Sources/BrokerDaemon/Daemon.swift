import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import Logging
import RoutingRules
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The running broker, as wiring: a registry kept by an agent source, inputs and an output from
/// one transport, the router between them, rule reloads, and the admin server, run as services
/// of one `ServiceGroup`.
///
/// The input starts paused and flows only while the registry is synced with the agent server
/// (see ``BrokerRouter/RoutingGate``). Shutdown order is ``RoutingService``'s.
public final class Daemon: Sendable {
    public let configuration: DaemonConfiguration
    public let registry: AgentRegistry
    public let reloader: RuleReloader
    public let decisionObserver: DecisionObserver
    /// The candidate rules decided beside the live ones (`--shadow-rules`).
    public let shadow: ShadowRules?
    /// Where decisions are recorded (`--record`).
    public let recorder: DecisionRecorder?
    public let router: MessageRouter
    /// The admin HTTP server.
    public let admin: AdminServer
    /// Everything `/metrics` shows.
    public let metrics = BrokerMetrics()
    let gauges: ScrapeGauges
    let input: any InboundSource
    let output: any OutboundSink
    let agents: any AgentFeed
    private let routing: RoutingService
    private let logger: Logger
    private let notifier = SystemdNotifier()

    /// Builds the daemon; throws ``RuleReloader/InvalidRules`` when the rules are invalid, and
    /// the transport's error when it cannot make an input or output.
    public init(configuration: DaemonConfiguration, logger: Logger = Logger(label: "broker")) throws {
        self.configuration = configuration
        self.logger = logger
        let registry = AgentRegistry()
        self.registry = registry
        gauges = ScrapeGauges(metrics: metrics)
        reloader = try RuleReloader(
            paths: configuration.rules, registry: registry, strict: configuration.strictRules, metrics: metrics)
        agents = try configuration.agents.make(registry)
        shadow =
            configuration.shadowRules.isEmpty
            ? nil
            : try ShadowRules(
                paths: configuration.shadowRules, registry: registry, strict: configuration.strictRules,
                metrics: metrics)
        recorder = try configuration.record.map {
            try DecisionRecorder(
                path: $0.path, maximumSize: $0.maximumSize, includesMessages: configuration.admin.showsDecisionTraces)
        }
        decisionObserver = DecisionObserver(
            metrics: metrics, onUnknownAgent: agents.askAboutUnknownAgent, recorder: recorder, shadow: shadow)
        let transport = configuration.transport
        let ruleSet = reloader.holder.current
        output = try transport.makeOutbound(declaring: ruleSet.namedQueues.sorted())
        let output = self.output
        reloader.prepare { ruleSet in
            try await Self.within(.seconds(5), "declaring the queues of the new rules") {
                try await output.declare(ruleSet.namedQueues.sorted())
            }
        }
        input = try transport.makeInbound(
            queue: configuration.inputQueue, prefetch: configuration.prefetch,
            maximumUnsettledBytes: configuration.maximumUnsettledBytes, paused: true)
        let metadata =
            configuration.metadataQueue.isEmpty
            ? nil : try transport.makeInbound(queue: configuration.metadataQueue, prefetch: 64, paused: false)
        var advertisements: (any InboundSource)?
        var advertisementHandler: ServerAdvertisementHandler?
        if let link = agents.link, !configuration.advertisementQueue.isEmpty {
            advertisements = try transport.makeInbound(
                queue: configuration.advertisementQueue, prefetch: 16, paused: false)
            advertisementHandler = ServerAdvertisementHandler(link: link, follow: configuration.followAdvertisedURL)
        }
        // The feed answers with its whole list: asking about the first unknown id is enough.
        var askFeed: (@Sendable ([String]) -> Void)?
        if let refresh = agents.askAboutUnknownAgent {
            askFeed = { ids in
                if let first = ids.first { refresh(first) }
            }
        }
        router = MessageRouter(
            rules: reloader.holder, registry: registry, output: output, configuration: configuration.router,
            observer: decisionObserver, onUnknownAgents: askFeed)
        routing = RoutingService(
            router: router, input: input, output: output, metadata: metadata, advertisements: advertisements,
            metadataHandler: MetadataHandler(registry: registry, limit: router.dataPathAgents),
            advertisementHandler: advertisementHandler,
            drainTimeout: configuration.drainTimeout, logger: logger, notifier: notifier)
        admin = AdminServer(configuration: configuration.admin)
    }

    /// Runs until a graceful shutdown (``run(signals:)`` reacts to SIGTERM/SIGINT; tests call
    /// ``stop()``) has drained the pipeline and closed everything. The admin server binds first:
    /// a port that is taken fails here, before any message is taken.
    public func run(signals: UnixSignalsSequence? = nil) async throws {
        try await admin.start(daemon: self)
        logger.info(
            "broker running",
            metadata: [
                "rules": "\(reloader.status.hash.prefix(12))", "admin": "\(admin.address)",
                "transport": "\(configuration.transport.endpoint)",
            ])
        var services: [any Service] = [AdminService(admin: admin), AgentFeedService(feed: agents)]
        if configuration.watchRules {
            services.append(RuleWatchService(reloader: reloader))
            if let shadow { services.append(RuleWatchService(reloader: shadow.reloader)) }
        }
        services.append(routing)
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        groupBox.set(group)
        do {
            try await runServices(group, signals: signals)
        } catch {
            await recorder?.finish()
            throw error
        }
        // Whatever the recorder still buffers reaches its file.
        await recorder?.finish()
    }

    private func runServices(_ group: ServiceGroup, signals: UnixSignalsSequence?) async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            if let signals {
                tasks.addTask { await self.handle(signals, group: group) }
            }
            tasks.addTask { try await group.run() }
            try await tasks.next()
            tasks.cancelAll()
        }
    }

    private let groupBox = GroupBox()

    /// How long after the drain deadline the process may take to close its connections before
    /// it exits anyway.
    static let exitMargin: Duration = .seconds(5)

    /// Ends the process if the graceful shutdown is not over by the drain deadline plus
    /// ``exitMargin``: a peer that hangs (RabbitMQ that accepts and never answers, a blocked
    /// connection) cannot hold it. Unsettled messages go back to their queues with the
    /// connections. On a dispatch queue, so a stuck task pool cannot delay it.
    private func armWatchdog() {
        let limit = configuration.drainTimeout + Self.exitMargin
        let logger = self.logger
        let nanoseconds = limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) {
            logger.error(
                "shutdown did not finish within the drain deadline and margin; exiting (unsettled messages are redelivered)",
                metadata: ["limit": "\(limit)"])
            exit(1)
        }
    }

    /// Starts the graceful shutdown: stop consuming, drain, close (at once, or as soon as the
    /// service group runs).
    public func stop() {
        groupBox.shutDown()
    }

    /// SIGHUP reloads the rules; the first SIGTERM or SIGINT starts the graceful shutdown, a
    /// second one exits at once.
    private func handle(_ signals: UnixSignalsSequence, group: ServiceGroup) async {
        var stopping = false
        for await signal in signals {
            switch signal {
            case .sighup:
                notifier?.reloading()
                await reloader.reload(reason: "SIGHUP")
                await shadow?.reloader.reload(reason: "SIGHUP")
                notifier?.send("READY=1")
            default:
                if stopping {
                    logger.warning("second signal: exiting at once", metadata: ["signal": "\(signal)"])
                    exit(1)
                }
                stopping = true
                logger.info("signal: shutting down", metadata: ["signal": "\(signal)"])
                armWatchdog()
                await group.triggerGracefulShutdown()
            }
        }
    }
}

/// The service group once it exists; ``Daemon/stop()`` may come from any task, and before it.
final class GroupBox: Sendable {
    private let value = Mutex<(group: ServiceGroup?, stopRequested: Bool)>((nil, false))

    func set(_ group: ServiceGroup) {
        let stop = value.withLock { state -> Bool in
            state.group = group
            return state.stopRequested
        }
        if stop { Task { await group.triggerGracefulShutdown() } }
    }

    func shutDown() {
        let group = value.withLock { state -> ServiceGroup? in
            state.stopRequested = true
            return state.group
        }
        if let group { Task { await group.triggerGracefulShutdown() } }
    }
}

/// A wait that took longer than it may.
struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var limit: Duration
    var description: String { "\(what) took longer than \(limit)" }
}

extension Daemon {
    /// Runs `work`, giving up (and cancelling it) after `limit`.
    static func within(
        _ limit: Duration, _ what: String, _ work: @escaping @Sendable () async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await work()
                return true
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return false
            }
            let finished = try await group.next() ?? false
            group.cancelAll()
            if !finished { throw TimedOut(what: what, limit: limit) }
        }
    }
}
