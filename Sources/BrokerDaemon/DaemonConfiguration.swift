import BrokerCore
import BrokerRouter
import BrokerTransports

/// Makes the ``BrokerTransports/AgentFeed`` that keeps the daemon's registry current (the
/// daemon owns the registry; the composition root picks the source).
public struct AgentFeedProvider: Sendable {
    let make: @Sendable (AgentRegistry) throws -> any AgentFeed

    /// A provider that makes its feed with `make`, given the daemon's registry.
    public init(_ make: @escaping @Sendable (AgentRegistry) throws -> any AgentFeed) { self.make = make }

    /// A registry snapshot file (`broker run --registry FILE`), read at start-up.
    public static func file(_ path: String) -> AgentFeedProvider {
        AgentFeedProvider { try StaticStatusFeed(path: path, registry: $0) }
    }
}

/// Everything `broker run` needs to know.
public struct DaemonConfiguration: Sendable {
    /// Where messages come from and go to (see ``BrokerTransports/TransportFactory``).
    public var transport: any Transport
    /// Where the agent registry comes from.
    public var agents: AgentFeedProvider
    public var rules = ["rules"]
    public var inputQueue = "broker_input_queue"
    /// REGISTER_AGENT / CLIENT_DISCONNECTED messages ('' to ignore).
    public var metadataQueue = "agent_metadata_queue"
    /// Where the agent server announces `SERVER_AVAILABLE` ('' to ignore).
    public var advertisementQueue = "server_advertisement_queue"
    /// Follow a `websocket_url` in `SERVER_AVAILABLE` that differs from the configured one.
    public var followAdvertisedURL = false
    public var prefetch = 256
    /// Bytes of input message bodies held unsettled at most (beside ``prefetch``): 64 MiB.
    public var maximumUnsettledBytes = 64 << 20
    public var router = RouterConfiguration()
    public var watchRules = true
    /// Refuse rules with warnings at start-up and on every reload (`validate-rules --strict`'s
    /// rule), so that a reload never puts in force what the next start would refuse.
    public var strictRules = false
    /// A candidate rule set evaluated beside the live one, with no side effect (``ShadowRules``).
    public var shadowRules: [String] = []
    /// Where every decision is recorded as JSON Lines, and the file's size limit (``DecisionRecorder``).
    public var record: (path: String, maximumSize: Int)?
    /// Whether SIGTERM and SIGINT start the graceful shutdown and SIGHUP reloads the rules
    /// (`broker run`); in-process users (tests, the demo) call ``Daemon/stop()``.
    public var handlesSignals = false
    /// How long a graceful shutdown may take to finish what is in flight.
    public var drainTimeout: Duration = .seconds(10)
    public var admin = AdminServer.Configuration()

    public init(transport: any Transport, agents: AgentFeedProvider) {
        self.transport = transport
        self.agents = agents
    }
}
