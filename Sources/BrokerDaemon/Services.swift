import BrokerTransports
import ServiceLifecycle
import UnixSignals

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

/// The admin HTTP server, first in the daemon's group so that it stops last (a group shuts its
/// services down in reverse order): `/readyz` and `/metrics` answer through the whole drain.
struct AdminService: Service {
    let admin: AdminServer
    let source: any AdminSource

    func run() async throws { try await admin.run(source: source) }
}

/// Reloads the rules (and the shadow rules) on SIGHUP until graceful shutdown: the one signal
/// the daemon handles itself (SIGTERM and SIGINT are the service group's own).
struct ReloadOnHangUp: Service {
    let reloaders: [RuleReloader]
    let notifier: SystemdNotifier?

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        let (reloaders, notifier) = (self.reloaders, self.notifier)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                notifier?.reloading()
                for reloader in reloaders { await reloader.reload(reason: "SIGHUP") }
                notifier?.send("READY=1")
            }
        }
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
