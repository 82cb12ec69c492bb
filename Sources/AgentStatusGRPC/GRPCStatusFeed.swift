import BrokerCore
import BrokerTransports
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Synchronization

/// Keeps an ``AgentRegistry`` current from the agent server's gRPC status stream.
///
/// Subscribes with the broker id of the latest registration; applies each response (a full list
/// replaces, marking missing agents offline; a partial list merges); on any stream error
/// reconnects with exponential backoff and jitter and re-syncs from the first full list. A new
/// registration (new broker id, maybe a new endpoint) restarts the stream at once. While the
/// stream is down the registry keeps its last good contents and its ``FeedHealth`` says how
/// stale they are.
public final class GRPCStatusFeed: Sendable {
    /// Feed settings.
    public struct Configuration: Sendable {
        /// Reconnect backoff (the original broker used 5 s and 60 s).
        public var backoffBase: Duration = .seconds(5)
        public var backoffCap: Duration = .seconds(60)
        /// At most one `GetAgentStatus` per this interval for unknown agents.
        public var refreshInterval: Duration = .seconds(5)

        public init() {}
    }

    private let registry: AgentRegistry
    private let configuration: Configuration
    private let logger: Logger
    private let latest = Mutex<ServerRegistration?>(nil)
    private let lastRefresh = Mutex<ContinuousClock.Instant?>(nil)
    private let counters = Counters()

    final class Counters: Sendable {
        let updates = Atomic(0)
        let reconnects = Atomic(0)
        let refreshes = Atomic(0)
    }

    public init(
        registry: AgentRegistry, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "broker.status-feed")
    ) {
        self.registry = registry
        self.configuration = configuration
        self.logger = logger
    }

    /// Stream messages applied so far.
    public var updatesApplied: Int { counters.updates.load(ordering: .relaxed) }
    /// Times the stream was (re)established after a failure.
    public var reconnects: Int { counters.reconnects.load(ordering: .relaxed) }
    /// `GetAgentStatus` calls made.
    public var refreshes: Int { counters.refreshes.load(ordering: .relaxed) }

    /// Follows `registrations` until the task is cancelled: each new registration replaces the
    /// stream of the previous one.
    public func run(registrations: AsyncStream<ServerRegistration>) async {
        var current: Task<Void, Never>?
        for await registration in registrations {
            latest.withLock { $0 = registration }
            current?.cancel()
            await current?.value
            current = Task { await self.follow(registration) }
        }
        current?.cancel()
        await current?.value
        registry.health.markBroken()
    }

    /// Streams from one registration's endpoint, reconnecting until cancelled.
    func follow(_ registration: ServerRegistration) async {
        var backoff = Backoff(base: configuration.backoffBase, cap: configuration.backoffCap)
        var attempt = 0
        while !Task.isCancelled {
            if attempt > 0 { counters.reconnects.add(1, ordering: .relaxed) }
            attempt += 1
            let progress = StreamProgress()
            defer { if progress.received { backoff.reset() } }
            do {
                try await subscribe(registration, progress: progress)
                logger.warning(
                    "status stream ended", metadata: ["server": "\(registration.grpcHost):\(registration.grpcPort)"])
            } catch is CancellationError {
                break
            } catch {
                if Task.isCancelled { break }
                logger.error(
                    "status stream failed",
                    metadata: ["error": "\(error)", "server": "\(registration.grpcHost):\(registration.grpcPort)"])
            }
            registry.health.markBroken()
            if Task.isCancelled { break }
            let delay = backoff.next()
            logger.info("resubscribing to agent status", metadata: ["delay": "\(delay)"])
            try? await Task.sleep(for: delay)
        }
    }

    private func subscribe(_ registration: ServerRegistration, progress: StreamProgress) async throws {
        let registry = self.registry
        let counters = self.counters
        let logger = self.logger
        try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .dns(host: registration.grpcHost, port: registration.grpcPort),
                transportSecurity: .plaintext)
        ) { client in
            let service = AgentStatus_AgentStatusService.Client(wrapping: client)
            let request = AgentStatus_AgentStatusRequest.with { $0.brokerID = registration.brokerID }
            try await service.subscribeToAgentStatus(request) { response in
                for try await message in response.messages {
                    let update = message.statusUpdate
                    let (applied, skipped) = update.validated
                    if skipped > 0 {
                        logger.warning("skipped agent records without agent_id", metadata: ["count": "\(skipped)"])
                    }
                    registry.apply(applied)
                    counters.updates.add(1, ordering: .relaxed)
                    if update.isFullUpdate { registry.health.markHealthy() }
                    progress.markReceived()
                }
            }
        }
    }

    /// Asks the server for the full list when a message names an agent the registry does not
    /// know; at most once per ``Configuration/refreshInterval``. Returns whether it asked.
    @discardableResult
    public func refresh(forUnknownAgent agentID: String) async -> Bool {
        guard agentID.hasPrefix("agent_"), registry.snapshot.agent(id: agentID) == nil,
            let registration = latest.withLock({ $0 })
        else { return false }
        let now = ContinuousClock.now
        let allowed = lastRefresh.withLock { last -> Bool in
            if let last, now - last < configuration.refreshInterval { return false }
            last = now
            return true
        }
        guard allowed else { return false }
        counters.refreshes.add(1, ordering: .relaxed)
        do {
            let response = try await withGRPCClient(
                transport: .http2NIOPosix(
                    target: .dns(host: registration.grpcHost, port: registration.grpcPort),
                    transportSecurity: .plaintext)
            ) { client in
                try await AgentStatus_AgentStatusService.Client(wrapping: client).getAgentStatus(
                    AgentStatus_AgentStatusRequest.with { $0.brokerID = registration.brokerID })
            }
            var update = response.statusUpdate
            update.isFullUpdate = true  // GetAgentStatus always returns the full list
            registry.apply(update.validated.update)
            logger.info(
                "refreshed agent status", metadata: ["unknown_agent": "\(agentID)", "agents": "\(update.agents.count)"])
        } catch {
            logger.error("GetAgentStatus failed", metadata: ["error": "\(error)"])
        }
        return true
    }
}

/// Whether a stream delivered anything (a stream that did resets the reconnect backoff).
final class StreamProgress: Sendable {
    private let flag = Atomic(false)
    var received: Bool { flag.load(ordering: .relaxed) }
    func markReceived() { flag.store(true, ordering: .relaxed) }
}

extension AgentStatus_AgentStatusResponse {
    /// The response as a registry update.
    public var statusUpdate: AgentStatusUpdate {
        AgentStatusUpdate(
            agents: agents.map {
                AgentStatusRecord(
                    agentID: $0.agentID, agentName: $0.agentName, isOnline: $0.isOnline, lastSeen: $0.lastSeen,
                    metrics: $0.metrics)
            }, isFullUpdate: isFullUpdate)
    }

    /// Builds a response from a registry update.
    public init(_ update: AgentStatusUpdate) {
        self.init()
        isFullUpdate = update.isFullUpdate
        agents = update.agents.map { record in
            AgentStatus_AgentInfo.with {
                $0.agentID = record.agentID
                $0.agentName = record.agentName
                $0.isOnline = record.isOnline
                $0.lastSeen = record.lastSeen
                $0.metrics = record.metrics
            }
        }
    }
}

extension AgentStatusUpdate {
    /// The update without records that have no agent id, and how many were dropped.
    var validated: (update: AgentStatusUpdate, skipped: Int) {
        let kept = agents.filter { !$0.agentID.isEmpty }
        return (AgentStatusUpdate(agents: kept, isFullUpdate: isFullUpdate), agents.count - kept.count)
    }
}
