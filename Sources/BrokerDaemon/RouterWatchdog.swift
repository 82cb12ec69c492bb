import BrokerRouter
import BrokerTransports
import Foundation
import Logging
import ServiceLifecycle

/// Whether the router is alive, as systemd's watchdog should hear it: not merely a running
/// process, but a router that gets on with what it holds.
///
/// The router is stuck when it holds messages that wait for nothing it knows of (not for the
/// registry, not for the agents' warm-up) and has neither settled, requeued nor retried a
/// single one for a whole window, while the output is not held back by RabbitMQ (a resource
/// alarm blocks publishing for as long as it lasts, and restarting would not help). A publish
/// never waits longer than the confirm timeout, and a refused one is retried within seconds, so
/// a live router moves well within a window of a minute.
public struct RouterLiveness: Sendable {
    /// How long the router may hold messages without moving.
    public let window: Duration
    private var lastProgress: Int?
    private var since: ContinuousClock.Instant?

    public init(window: Duration) { self.window = window }

    /// What the router shows now.
    public struct Reading: Sendable {
        /// Messages settled, requeued and publishes retried so far.
        public var progress: Int
        /// Messages taken and not settled.
        public var inFlight: Int
        /// Of those, how many wait for the registry or for the agents.
        public var waiting: Int
        /// RabbitMQ blocks the output.
        public var outputBlocked: Bool

        public init(progress: Int, inFlight: Int, waiting: Int, outputBlocked: Bool) {
            self.progress = progress
            self.inFlight = inFlight
            self.waiting = waiting
            self.outputBlocked = outputBlocked
        }

        /// The reading of `router` and `output` now.
        public init(_ router: MessageRouter, output: any OutboundSink) {
            let statistics = router.statistics
            self.init(
                progress: statistics.settled + statistics.snapshot.requeued + statistics.retries,
                inFlight: statistics.inFlight,
                waiting: statistics.waitingForRegistry + statistics.waitingForAgents,
                outputBlocked: output.health.state == .blocked)
        }
    }

    /// Whether the router is alive at `now` given `reading`.
    public mutating func isAlive(_ reading: Reading, at now: ContinuousClock.Instant) -> Bool {
        let idle = reading.inFlight - reading.waiting <= 0 || reading.outputBlocked
        if idle || reading.progress != lastProgress || since == nil {
            lastProgress = reading.progress
            since = now
            return true
        }
        return now - (since ?? now) < window
    }

    /// How long it has been held without moving (zero when alive and moving).
    public func heldFor(at now: ContinuousClock.Instant) -> Duration { since.map { now - $0 } ?? .zero }
}

/// Pings systemd's watchdog (`WatchdogSec=` in the unit: `WATCHDOG=1` at half the interval of
/// `WATCHDOG_USEC`) for as long as the router is alive (``RouterLiveness``), until graceful
/// shutdown (the stop has its own timeout). When the router is stuck it stops pinging and says
/// so once; systemd then restarts the broker and RabbitMQ redelivers what it held.
struct RouterWatchdogService: Service {
    let notifier: SystemdNotifier
    let interval: Duration
    let router: MessageRouter
    let output: any OutboundSink
    let logger: Logger

    /// The watchdog interval systemd asked this process for, if any.
    static func interval(environment: [String: String] = ProcessInfo.processInfo.environment) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], Int32(pid) != getpid() { return nil }
        return .microseconds(usec)
    }

    func run() async throws {
        let (router, output, notifier, logger, interval) = (router, output, notifier, logger, interval)
        await cancelWhenGracefulShutdown {
            var liveness = RouterLiveness(window: interval)
            var silent = false
            while !Task.isCancelled {
                let reading = RouterLiveness.Reading(router, output: output)
                let now = ContinuousClock.now
                if liveness.isAlive(reading, at: now) {
                    notifier.send("WATCHDOG=1")
                    silent = false
                } else if !silent {
                    silent = true
                    logger.critical(
                        "the router holds messages and has not moved: not answering systemd's watchdog",
                        metadata: [
                            "in_flight": "\(reading.inFlight)", "held_for": "\(liveness.heldFor(at: now))",
                        ])
                }
                try? await Task.sleep(for: interval / 2)
            }
        }
    }
}
