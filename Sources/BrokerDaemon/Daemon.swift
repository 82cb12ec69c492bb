import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import Logging
import RoutingRules
import ServiceLifecycle
import Synchronization

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
    let feed: any AgentFeed
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
        feed = try configuration.agents.make(registry)
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
            metrics: metrics, onUnknownAgent: feed.askAboutUnknownAgent, recorder: recorder, shadow: shadow)
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
        if let link = feed.link, !configuration.advertisementQueue.isEmpty {
            advertisements = try transport.makeInbound(
                queue: configuration.advertisementQueue, prefetch: 16, paused: false)
            advertisementHandler = ServerAdvertisementHandler(link: link, follow: configuration.followAdvertisedURL)
        }
        // The feed answers with its whole list: asking about the first unknown id is enough.
        var askFeed: (@Sendable ([String]) -> Void)?
        if let refresh = feed.askAboutUnknownAgent {
            askFeed = { ids in
                if let first = ids.first { refresh(first) }
            }
        }
        let admin = AdminServer(configuration: configuration.admin)
        self.admin = admin
        router = MessageRouter(
            rules: reloader.holder, registry: registry, output: output, configuration: configuration.router,
            observer: decisionObserver, onUnknownAgents: askFeed)
        routing = RoutingService(
            router: router, input: input, output: output, metadata: metadata, advertisements: advertisements,
            metadataHandler: MetadataHandler(registry: registry, admission: router.dataPathAdmission),
            advertisementHandler: advertisementHandler,
            drainTimeout: configuration.drainTimeout, logger: logger, notifier: notifier,
            adminListening: { await admin.waitUntilListening() })
    }

    /// Runs until a graceful shutdown has drained the pipeline and closed everything: SIGTERM or
    /// SIGINT when ``DaemonConfiguration/handlesSignals`` (the service group's own signals), or
    /// ``stop()``. Every part is a service of one `ServiceGroup`; the admin server comes first, so
    /// it stops last, and routing waits until it listens: an admin port that is taken fails the
    /// run before any message is taken.
    public func run() async throws {
        var services: [any Service] = [AdminService(admin: admin, source: self), AgentFeedService(feed: feed)]
        if configuration.watchRules {
            services.append(RuleWatchService(reloader: reloader))
            if let shadow { services.append(RuleWatchService(reloader: shadow.reloader)) }
        }
        if configuration.handlesSignals {
            services.append(
                ReloadOnHangUp(reloaders: [reloader] + [shadow?.reloader].compactMap { $0 }, notifier: notifier))
        }
        services.append(routing)
        if let notifier, let interval = RouterWatchdogService.interval() {
            services.append(
                RouterWatchdogService(
                    notifier: notifier, interval: interval, router: router, output: output, logger: logger))
        }
        var group = ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: logger)
        if configuration.handlesSignals { group.gracefulShutdownSignals = [.sigterm, .sigint] }
        // Past the drain deadline and a margin to close connections, the services are cancelled.
        group.maximumGracefulShutdownDuration = configuration.drainTimeout + Self.closingMargin
        let serviceGroup = ServiceGroup(configuration: group)
        pendingStop.start(serviceGroup)
        let (admin, logger, configuration, reloader) = (self.admin, self.logger, self.configuration, self.reloader)
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await serviceGroup.run() }
                if await admin.waitUntilListening() {
                    logger.info(
                        "broker running",
                        metadata: [
                            "rules": "\(reloader.status.hash.prefix(12))", "admin": "\(admin.address)",
                            "transport": "\(configuration.transport.endpoint)",
                        ])
                }
                try await tasks.waitForAll()
            }
        } catch {
            await recorder?.finish()
            throw error
        }
        // Whatever the recorder still buffers reaches its file.
        await recorder?.finish()
    }

    private let pendingStop = PendingStop()

    /// How long after the drain deadline the services may take to close their connections
    /// before the group cancels them (and `broker run` exits regardless: ``processDeadline``).
    static let closingMargin: Duration = .seconds(5)

    /// How long a graceful shutdown may take in all before the process should end regardless:
    /// a peer that hangs (RabbitMQ that accepts and never answers, a blocked connection) cannot
    /// hold it. Unsettled messages go back to their queues with the connections.
    public var processDeadline: Duration { configuration.drainTimeout + Self.closingMargin }

    /// Starts the graceful shutdown: stop consuming, drain, close (at once, or as soon as the
    /// service group runs).
    public func stop() {
        pendingStop.request()
    }
}

/// A ``Daemon/stop()`` that may come before the service group exists (the group is made when
/// the daemon runs): remembered and passed on.
final class PendingStop: Sendable {
    private let state = Mutex<(group: ServiceGroup?, requested: Bool)>((nil, false))

    func start(_ group: ServiceGroup) {
        let requested = state.withLock { state -> Bool in
            state.group = group
            return state.requested
        }
        if requested { Task { await group.triggerGracefulShutdown() } }
    }

    func request() {
        let group = state.withLock { state -> ServiceGroup? in
            state.requested = true
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
