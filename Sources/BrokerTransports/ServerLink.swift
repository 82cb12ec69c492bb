import BrokerCore

/// What the agent server answered when the broker registered: who the broker is now, and where
/// to subscribe for agent status.
public struct ServerRegistration: Sendable, Hashable, CustomStringConvertible {
    /// The server-assigned id (`broker_1a2b3c4d`); it changes with every registration.
    public var brokerID: String
    public var brokerName: String
    public var grpcHost: String
    public var grpcPort: Int

    public init(brokerID: String, brokerName: String, grpcHost: String, grpcPort: Int) {
        self.brokerID = brokerID
        self.brokerName = brokerName
        self.grpcHost = grpcHost
        self.grpcPort = grpcPort
    }

    public var description: String { "\(brokerID) (gRPC \(grpcHost):\(grpcPort))" }
}

/// What happened to the broker's registration with the agent server.
public enum ServerLinkEvent: Sendable, Hashable {
    /// A registration succeeded (a new broker id, perhaps a new gRPC endpoint).
    case registered(ServerRegistration)
    /// The registration is gone: the connection dropped or was refused. The server may be
    /// restarting, and a restarted server has forgotten its agents.
    case lost(reason: String)
}

/// Where a server link stands.
public enum ServerLinkState: Sendable, Hashable {
    case connecting
    case registered(ServerRegistration)
    case disconnected(reason: String)
}

/// The broker's registration with the agent server (WebSocket, or anything else that yields
/// registrations).
public protocol ServerLink: Sendable {
    /// Registrations and their losses, newest last (a slow reader sees the newest).
    var events: AsyncStream<ServerLinkEvent> { get }
    /// The link's state now.
    var state: ServerLinkState { get }
    /// Connects, registers, and keeps doing so until the task is cancelled.
    func run() async
    /// Cuts a pending retry delay short (the server said it is back, e.g. `SERVER_AVAILABLE`).
    func reconnectNow(reason: String)
    /// Where the link connects (credentials included: not for logs).
    var url: String { get }
    /// Connects to `url` from the next connection on.
    func redirect(to url: String)
}

/// Keeps an agent registry current (the gRPC stream from the agent server, a snapshot file, …).
public protocol StatusFeed: Sendable {
    /// Runs until the task is cancelled, applying what it learns to its registry and keeping the
    /// registry's ``BrokerCore/RegistrySync`` true to the feed's state.
    func run() async
}

/// Where the daemon's agents come from, as one service: the agent server (a registration
/// ``ServerLink`` and the ``StatusFeed`` that follows it), a snapshot file, or anything else that
/// keeps an ``BrokerCore/AgentRegistry`` current. The composition root picks one; the daemon
/// knows only this.
public protocol AgentFeed: Sendable {
    /// The registration with the agent server, when the agents come from one: `/readyz`,
    /// `/metrics` and `SERVER_AVAILABLE` (which cuts its retry delay short) use it.
    var link: (any ServerLink)? { get }
    /// Asks the source about an agent id a message names and the registry does not know
    /// (rate-limited by the feed); nil when the source cannot be asked.
    var askAboutUnknownAgent: (@Sendable (String) -> Void)? { get }
    /// Keeps the registry current until the task is cancelled (a source with nothing to follow
    /// may return at once).
    func run() async
}

extension AgentFeed {
    public var link: (any ServerLink)? { nil }
    public var askAboutUnknownAgent: (@Sendable (String) -> Void)? { nil }
}
