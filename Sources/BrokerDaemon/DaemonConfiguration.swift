import AgentStatusGRPC
import BrokerRouter
import BrokerTransports
import ServerLinkWebSocket

/// Everything `broker run` needs to know.
public struct DaemonConfiguration: Sendable {
    /// Where the agent registry comes from.
    public enum Agents: Sendable {
        /// The agent server: WebSocket registration + gRPC status stream.
        case server(url: String, brokerName: String)
        /// A registry snapshot file.
        case file(String)
    }

    /// Where messages come from and go to (see ``BrokerTransports/TransportFactory``).
    public var transport: any Transport
    public var rules = ["rules"]
    public var agents = Agents.server(url: "ws://localhost:8765/ws", brokerName: "broker")
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
    /// How long a graceful shutdown may take to finish what is in flight.
    public var drainTimeout: Duration = .seconds(10)
    public var admin = AdminServer.Configuration()
    public var statusFeed = GRPCStatusFeed.Configuration()
    /// Timeouts and retry delays of the agent-server link (its URL and name come from ``agents``).
    public var serverLink = WebSocketServerLink.Configuration()
    /// TLS toward the agent server (WebSocket and gRPC).
    public var serverTLS = ServerTLS()

    /// TLS toward the agent server. Certificates are always verified (peer and name).
    public struct ServerTLS: Sendable, Hashable {
        /// Whether the gRPC status stream uses TLS.
        public enum GRPCMode: String, Sendable, Hashable, CaseIterable {
            /// When the configured WebSocket URL is `wss://`.
            case auto
            case on
            case off
        }

        /// A PEM file of the CA certificates that sign the agent server's certificates, for
        /// `wss://` and gRPC; without one, the system's trust roots.
        public var caCertificate: String?
        public var grpc = GRPCMode.auto

        public init() {}

        /// Whether the status stream of a server at `webSocketURL` uses TLS.
        public func grpcUsesTLS(webSocketURL: String) -> Bool {
            switch grpc {
            case .on: true
            case .off: false
            case .auto: webSocketURL.lowercased().hasPrefix("wss://")
            }
        }
    }

    public init(transport: any Transport) { self.transport = transport }
}
