import BrokerCore
import BrokerTransports
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Logging
import NetworkFailures
import Synchronization

/// Keeps an ``AgentRegistry`` current from the agent server's gRPC status stream.
///
/// Follows the server link's events. Each registration (a new broker id, maybe a new endpoint)
/// makes the registry unsynced and starts a stream with that id; the registration's first full
/// list replaces the registry entirely (agents it does not name are forgotten: a restarted
/// server no longer knows them) and makes it synced. Later full lists of the same registration
/// replace it the ordinary way (missing agents kept, offline); partial lists merge. A broken
/// stream leaves the registry stale (a blip: same server, same ids) and is resubscribed; a lost
/// registration makes it unsynced at once. Reconnecting: a server that refuses the connection is
/// retried every ``Configuration/refusedRetryDelay``; other failures back off exponentially with
/// jitter.
///
/// A registration's first list that is empty, or names far fewer online agents than were online
/// before, starts a warm-up (``BrokerCore/RegistryWarmup``): the real server comes back from a
/// restart empty and its agents reconnect later. The warm-up begins before the registry is marked
/// synced, so no decision is ever taken on the empty list as if it were settled.
public final class GRPCStatusFeed: StatusFeed {
    /// Feed settings.
    public struct Configuration: Sendable {
        /// Reconnect backoff after a stream failure (the original broker used 5 s and 60 s).
        public var backoffBase: Duration = .seconds(5)
        public var backoffCap: Duration = .seconds(60)
        /// Delay between attempts while nothing listens at the gRPC endpoint.
        public var refusedRetryDelay: Duration = .milliseconds(200)
        /// At most one `GetAgentStatus` per this interval for unknown agents.
        public var refreshInterval: Duration = .seconds(5)
        /// The largest status message accepted (grpc-swift's default is 4 MiB; a full list of
        /// 100,000 agents is about 8.5 MB, so the default here is 32 MiB).
        public var maximumMessageSize = 32 << 20
        /// The most agents one status list brings into the registry; records beyond are counted
        /// and left out with an error in the log (1,000,000 agents took 946 MB).
        public var maximumAgents = 100_000
        /// How the status stream is secured.
        public var security: Security = .plaintext
        /// When the registry warms up after the server's list comes back short, and how long.
        public var warmup = RegistryWarmup.Policy()
        /// A stream that has sent nothing this long after it opened is given up and opened again
        /// (a server that accepts the call and never sends its first list was waited on forever).
        public var firstListTimeout: Duration = .seconds(30)

        /// How the status stream is secured.
        public enum Security: Sendable, Hashable {
            case plaintext
            /// TLS, with the server's certificate verified for the `grpc_host` the server names
            /// (its DNS name, or its IP address) against the CA certificates in the PEM file
            /// `trustRoots`, or the system's trust roots without one.
            case tls(trustRoots: String?)
        }

        public init() {}

        /// The client transport to `registration`'s gRPC endpoint.
        func transport(to registration: ServerRegistration) throws -> HTTP2ClientTransport.Posix {
            let host = registration.grpcHost
            let port = registration.grpcPort
            // An IP address is a target of its own: TLS then sends no SNI name (RFC 6066) and
            // verifies the certificate's IP address entry.
            var address = in6_addr()
            let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            let target: any ResolvableTarget =
                if inet_pton(AF_INET, bare, &address) == 1 {
                    .ipv4(address: bare, port: port)
                } else if inet_pton(AF_INET6, bare, &address) == 1 {
                    .ipv6(address: bare, port: port)
                } else {
                    .dns(host: host, port: port)
                }
            let transportSecurity: HTTP2ClientTransport.Posix.TransportSecurity =
                switch security {
                case .plaintext: .plaintext
                case .tls(let roots):
                    .tls { tls in
                        tls.serverCertificateVerification = .fullVerification
                        tls.trustRoots = roots.map { .certificates([.file(path: $0, format: .pem)]) } ?? .systemDefault
                    }
                }
            return try HTTP2ClientTransport.Posix(target: target, transportSecurity: transportSecurity)
        }

        /// Call options with ``maximumMessageSize`` as the limit both ways.
        var callOptions: CallOptions {
            var options = CallOptions.defaults
            options.maxRequestMessageBytes = maximumMessageSize
            options.maxResponseMessageBytes = maximumMessageSize
            return options
        }
    }

    private let registry: AgentRegistry
    private let events: AsyncStream<ServerLinkEvent>
    private let configuration: Configuration
    private let logger: Logger
    private let latest = Mutex<ServerRegistration?>(nil)
    private let lastRefresh = Mutex<ContinuousClock.Instant?>(nil)
    private let counters = Counters()
    /// The warm-up after the server (re)starts.
    public let warmup: RegistryWarmup
    /// Agents online before the registration that was lost: what the next first list is
    /// compared with (the larger count across registrations lost in a row).
    private let expectedOnline = Mutex<Int?>(nil)

    final class Counters: Sendable {
        let updates = Atomic(0)
        let reconnects = Atomic(0)
        let refreshes = Atomic(0)
    }

    /// A feed for `registry` that follows the registrations in `events` (a ``ServerLink``'s).
    public init(
        registry: AgentRegistry, events: AsyncStream<ServerLinkEvent>, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "broker.status-feed")
    ) {
        self.registry = registry
        self.events = events
        self.configuration = configuration
        self.logger = logger
        warmup = RegistryWarmup(registry: registry, policy: configuration.warmup)
    }

    /// Stream messages applied so far.
    public var updatesApplied: Int { counters.updates.load(ordering: .relaxed) }
    /// Times the stream was (re)established after a failure.
    public var reconnects: Int { counters.reconnects.load(ordering: .relaxed) }
    /// `GetAgentStatus` calls made.
    public var refreshes: Int { counters.refreshes.load(ordering: .relaxed) }

    /// Follows the link's events until they end or the task is cancelled: each registration
    /// replaces the stream of the previous one.
    public func run() async {
        let logger = self.logger
        let watcher = Task { await warmup.watch { Self.log($0, logger) } }
        defer { watcher.cancel() }
        var current: Task<Void, Never>?
        for await event in events {
            current?.cancel()
            await current?.value
            current = nil
            let before = warmup.expectedOnline
            expectedOnline.withLock { $0 = max($0 ?? 0, before) }
            switch event {
            case .registered(let registration):
                latest.withLock { $0 = registration }
                registry.sync.markUnsynced(
                    reason: "registered as \(registration.brokerID); waiting for its first agent list")
                current = Task { await self.follow(registration) }
            case .lost(let reason):
                latest.withLock { $0 = nil }
                registry.sync.markUnsynced(reason: "agent server link down: \(reason)")
            }
        }
        current?.cancel()
        await current?.value
        registry.sync.markUnsynced(reason: "status feed stopped")
    }

    /// Streams from one registration's endpoint, reconnecting until cancelled.
    func follow(_ registration: ServerRegistration) async {
        var backoff = Backoff(base: configuration.backoffBase, cap: configuration.backoffCap)
        let progress = StreamProgress()
        var attempt = 0
        while !Task.isCancelled {
            if attempt > 0 { counters.reconnects.add(1, ordering: .relaxed) }
            attempt += 1
            let receivedBefore = progress.messages
            var refused = false
            do {
                try await subscribe(registration, progress: progress, firstMessageWithin: receivedBefore)
                logger.warning(
                    "status stream ended", metadata: ["server": "\(registration.grpcHost):\(registration.grpcPort)"])
            } catch is CancellationError {
                break
            } catch {
                if Task.isCancelled { break }
                refused = Self.isRefused(error)
                if !refused || attempt == 1 {
                    logger.error(
                        "status stream failed",
                        metadata: [
                            "error": "\(NetworkFailure.describe(error))",
                            "server": "\(registration.grpcHost):\(registration.grpcPort)",
                        ])
                }
            }
            registry.sync.markStale(reason: "status stream down")
            if Task.isCancelled { break }
            if progress.messages > receivedBefore { backoff.reset() }
            let delay = refused ? configuration.refusedRetryDelay : backoff.next()
            if !refused { logger.info("resubscribing to agent status", metadata: ["delay": "\(delay)"]) }
            try? await Task.sleep(for: delay)
        }
    }

    /// Whether `error` (or an error it wraps) is a refused connection.
    static func isRefused(_ error: any Error) -> Bool {
        var current: (any Error)? = error
        while let error = current {
            if NetworkFailure.isConnectionRefused(error) { return true }
            current = (error as? RPCError)?.cause
        }
        return false
    }

    /// Subscribes, giving the stream up when it has delivered nothing (its count still at
    /// `before`) within ``Configuration/firstListTimeout``.
    private func subscribe(
        _ registration: ServerRegistration, progress: StreamProgress, firstMessageWithin before: Int
    ) async throws {
        let timeout = configuration.firstListTimeout
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await self.subscribe(registration, progress: progress)
                return true
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                guard progress.messages > before else { throw NoFirstList(timeout: timeout) }
                return false
            }
            while let subscribed = try await group.next() {
                if subscribed {
                    group.cancelAll()
                    return
                }
            }
        }
    }

    /// The server accepted the subscription and sent nothing in time.
    struct NoFirstList: Error, CustomStringConvertible {
        var timeout: Duration
        var description: String { "the status stream sent no agent list within \(timeout) of opening" }
    }

    private func subscribe(_ registration: ServerRegistration, progress: StreamProgress) async throws {
        let registry = self.registry
        let counters = self.counters
        let logger = self.logger
        let configuration = self.configuration
        try await withGRPCClient(transport: try configuration.transport(to: registration)) { client in
            let request = AgentStatus_AgentStatusRequest.with { $0.brokerID = registration.brokerID }
            try await client.serverStreaming(
                request: ClientRequest(message: request),
                descriptor: AgentStatus_AgentStatusService.Method.SubscribeToAgentStatus.descriptor,
                serializer: ProtobufSerializer<AgentStatus_AgentStatusRequest>(),
                deserializer: StatusListDeserializer(maximumAgents: configuration.maximumAgents),
                options: configuration.callOptions
            ) { response in
                for try await list in response.messages {
                    Self.logLeftOut(list, maximumAgents: configuration.maximumAgents, logger)
                    let applied = list.update
                    if applied.isFullUpdate && progress.fullLists == 0 {
                        // The registration's first full list: the whole truth, but perhaps not
                        // settled yet (a restarted server's agents are still reconnecting).
                        registry.replaceAll(with: applied)
                        let expected = self.expectedOnline.withLock { e in
                            defer { e = nil }
                            return e ?? 0
                        }
                        if let event = self.warmup.firstList(expected: expected) { Self.log(event, logger) }
                    } else {
                        registry.apply(applied)
                        if let event = self.warmup.check() { Self.log(event, logger) }
                    }
                    counters.updates.add(1, ordering: .relaxed)
                    progress.received(full: applied.isFullUpdate)
                    if applied.isFullUpdate {
                        registry.sync.markSynced()
                        logger.info(
                            "agent list synced",
                            metadata: [
                                "broker_id": "\(registration.brokerID)", "agents": "\(applied.agents.count)",
                            ])
                    }
                }
            }
        }
    }

    /// Says what a list left out: records that could not be read, and agents over the limit.
    static func logLeftOut(_ list: DecodedStatusList, maximumAgents: Int, _ logger: Logger) {
        if list.unreadable > 0 {
            logger.warning(
                "skipped agent records that could not be read (no agent_id, invalid UTF-8 or malformed)",
                metadata: ["count": "\(list.unreadable)"])
        }
        if list.overLimit > 0 {
            logger.error(
                "the agent server's status list names more agents than the broker keeps: the rest are left out",
                metadata: ["kept": "\(maximumAgents)", "left_out": "\(list.overLimit)", "setting": "--max-agents"])
        }
    }

    static func log(_ event: RegistryWarmup.Event, _ logger: Logger) {
        switch event {
        case .began(let warmup, let online):
            logger.warning(
                "the agent server's view is not settled: decisions that choose among agents wait",
                metadata: [
                    "reason": "\(warmup.reason)", "online": "\(online)", "expected": "\(warmup.expected)",
                    "deadline": "\(ISO8601DateFormatter().string(from: warmup.deadline))",
                ])
        case .ended(let reason, let online, let after):
            logger.notice(
                "warm-up over: routing on the agents online",
                metadata: ["reason": "\(reason)", "online": "\(online)", "after": "\(String(format: "%.1f", after)) s"])
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
            let list = try await withGRPCClient(transport: try configuration.transport(to: registration)) { client in
                try await client.unary(
                    request: ClientRequest(
                        message: AgentStatus_AgentStatusRequest.with { $0.brokerID = registration.brokerID }),
                    descriptor: AgentStatus_AgentStatusService.Method.GetAgentStatus.descriptor,
                    serializer: ProtobufSerializer<AgentStatus_AgentStatusRequest>(),
                    deserializer: StatusListDeserializer(maximumAgents: configuration.maximumAgents),
                    options: configuration.callOptions
                ) { try $0.message }
            }
            Self.logLeftOut(list, maximumAgents: configuration.maximumAgents, logger)
            var update = list.update
            update.isFullUpdate = true  // GetAgentStatus always returns the full list
            // A list from a registration that is gone (the server restarted meanwhile) names
            // agents the server no longer knows: it must not enter the registry.
            guard latest.withLock({ $0?.brokerID }) == registration.brokerID else {
                logger.info("discarding a status refresh from a registration that ended")
                return true
            }
            registry.apply(update)
            if let event = warmup.check() { Self.log(event, logger) }
            logger.info(
                "refreshed agent status", metadata: ["unknown_agent": "\(agentID)", "agents": "\(update.agents.count)"])
        } catch {
            logger.error("GetAgentStatus failed", metadata: ["error": "\(NetworkFailure.describe(error))"])
        }
        return true
    }
}

/// What the streams of one registration delivered (a stream that delivered resets the backoff;
/// only the registration's first full list replaces the whole registry).
final class StreamProgress: Sendable {
    private let counts = Mutex((messages: 0, fullLists: 0))
    var messages: Int { counts.withLock { $0.messages } }
    var fullLists: Int { counts.withLock { $0.fullLists } }
    func received(full: Bool) {
        counts.withLock {
            $0.messages += 1
            if full { $0.fullLists += 1 }
        }
    }
}

extension AgentStatus_AgentStatusResponse {
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
