import AgentStatusGRPC
import BrokerCore
import BrokerDaemon
import BrokerTransports
import ServerLinkWebSocket

/// How the broker reaches the agent server: WebSocket registration, then the gRPC status stream
/// at the endpoint the registration names.
public struct AgentServerSettings: Sendable {
    /// The agent server's WebSocket URL (`ws://` or `wss://`).
    public var url: String
    /// The name the broker registers under.
    public var brokerName: String
    /// Timeouts and retry delays of the registration link (its URL and name are the above).
    public var link = WebSocketServerLink.Configuration()
    /// The status stream's limits, refresh interval and warm-up policy.
    public var statusFeed = GRPCStatusFeed.Configuration()
    /// TLS toward the agent server (WebSocket and gRPC).
    public var tls = TLS()

    public init(url: String, brokerName: String) {
        self.url = url
        self.brokerName = brokerName
    }

    /// TLS toward the agent server. Certificates are always verified (peer and name).
    public struct TLS: Sendable, Hashable {
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
}

/// The agents of the agent server: a WebSocket registration link and the gRPC status feed that
/// follows its registrations, run together.
public struct AgentServerFeed: AgentFeed {
    let webSocket: WebSocketServerLink
    let feed: GRPCStatusFeed

    /// A link and feed for `settings`, keeping `registry` current.
    public init(_ settings: AgentServerSettings, registry: AgentRegistry) {
        var linkSettings = settings.link
        linkSettings.url = settings.url
        linkSettings.brokerName = settings.brokerName
        if let ca = settings.tls.caCertificate { linkSettings.tls.trustRoots = .file(ca) }
        var feedSettings = settings.statusFeed
        if settings.tls.grpcUsesTLS(webSocketURL: settings.url) {
            feedSettings.security = .tls(trustRoots: settings.tls.caCertificate)
        }
        webSocket = WebSocketServerLink(configuration: linkSettings)
        feed = GRPCStatusFeed(registry: registry, events: webSocket.events, configuration: feedSettings)
    }

    public var link: (any ServerLink)? { webSocket }

    public var askAboutUnknownAgent: (@Sendable (String) -> Void)? {
        let feed = self.feed
        return { id in Task { await feed.refresh(forUnknownAgent: id) } }
    }

    public func run() async {
        let (link, feed) = (webSocket, self.feed)
        await withDiscardingTaskGroup { group in
            group.addTask { await link.run() }
            group.addTask { await feed.run() }
        }
    }
}

extension AgentFeedProvider {
    /// The agent server of `settings`.
    public static func agentServer(_ settings: AgentServerSettings) -> AgentFeedProvider {
        AgentFeedProvider { AgentServerFeed(settings, registry: $0) }
    }
}
