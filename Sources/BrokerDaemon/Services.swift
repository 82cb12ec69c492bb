import BrokerTransports
import ServiceLifecycle

/// The agent feed as a service: it runs until graceful shutdown (a feed with nothing to follow
/// returns at once and the service waits).
struct AgentFeedService: Service {
    let feed: any AgentFeed

    func run() async throws {
        let feed = self.feed
        await cancelWhenGracefulShutdown { await feed.run() }
        try? await gracefulShutdown()
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
