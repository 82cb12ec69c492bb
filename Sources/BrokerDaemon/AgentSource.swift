import AgentStatusGRPC
import BrokerCore
import BrokerRouter
import BrokerTransports
import NIOSSL
import ServerLinkWebSocket
import ServiceLifecycle

/// Where the registry's agents come from, as a service: the agent server (a ``ServerLink`` and
/// the ``StatusFeed`` that follows its registrations) or a snapshot file.
struct AgentSource: Service {
    let link: (any ServerLink)?
    let feed: (any StatusFeed)?
    /// Asks the agent server about an agent id the registry does not know (rate-limited).
    let refresh: (@Sendable (String) -> Void)?

    init(_ configuration: DaemonConfiguration, registry: AgentRegistry) throws {
        switch configuration.agents {
        case .file(let path):
            _ = try StaticStatusFeed(path: path, registry: registry)
            link = nil
            feed = nil
            refresh = nil
        case .server(let url, let name):
            var settings = configuration.serverLink
            settings.url = url
            settings.brokerName = name
            let tls = configuration.serverTLS
            if let ca = tls.caCertificate { settings.tls.trustRoots = .file(ca) }
            var feedSettings = configuration.statusFeed
            if tls.grpcUsesTLS(webSocketURL: url) { feedSettings.security = .tls(trustRoots: tls.caCertificate) }
            let link = WebSocketServerLink(configuration: settings)
            let feed = GRPCStatusFeed(registry: registry, events: link.events, configuration: feedSettings)
            self.link = link
            self.feed = feed
            refresh = { id in Task { await feed.refresh(forUnknownAgent: id) } }
        }
    }

    func run() async throws {
        guard let link, let feed else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await link.run() }
                group.addTask { await feed.run() }
            }
        }
    }
}

/// Runs the admin server that ``Daemon/run(signals:)`` started; stops it last.
struct AdminService: Service {
    let admin: AdminServer

    func run() async throws {
        try? await gracefulShutdown()
        await admin.stop()
    }
}

/// Reloads the rules when their files change (inotify), until graceful shutdown.
struct RuleWatchService: Service {
    let reloader: RuleReloader

    func run() async throws {
        let reloader = self.reloader
        // On the watcher's own thread: a reload is in force without waiting for the task pool.
        let watcher = try RuleWatcher(paths: reloader.paths) { reloader.reloadNow(reason: "file change") }
        // A change between the first load and the start of the watch would go unseen: look once.
        reloader.reloadNow(reason: "file change")
        try? await gracefulShutdown()
        watcher.stop()
    }
}
