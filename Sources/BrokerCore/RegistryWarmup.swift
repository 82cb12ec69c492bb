import Foundation
import Synchronization

/// Decides when a registry warms up after the agent server (re)started, and when that ends.
///
/// The real agent server keeps its agents in memory only: after a restart its first full list
/// is empty, and its agents reconnect one by one, seconds apart, under new ids (some never do).
/// A list that arrives empty, or with fewer than half of the agents that were online before, is
/// therefore not the server's settled view. While the registry warms up, the router holds every
/// decision that chose among agents (a selection: its candidates are the shrunken set, and its
/// `otherwise` is the "no online agents" ERROR) and lets every other decision through.
///
/// The warm-up lasts while the list is short, and ends at the first of:
/// - at least half of the agents that were online before are back (the list is no longer short
///   by the measure that began the warm-up);
/// - some agent is back and none has come back for ``Policy/quietPeriod``: the server's view
///   has settled;
/// - ``Policy/deadline`` after it began: whatever is online then decides, and with nobody
///   online the original's ERRORs go out as before.
///
/// The feed calls ``firstList(expected:now:)`` after a registration's first full list and
/// ``check(now:)`` after every update; ``watch()`` ends it on time when no update comes.
public final class RegistryWarmup: Sendable {
    /// When to warm up and for how long.
    public struct Policy: Sendable, Hashable {
        /// The longest a warm-up lasts; zero turns warming up off.
        public var deadline: Duration = .seconds(30)
        /// A warm-up ends once some agent is back and no other has come back for this long.
        public var quietPeriod: Duration = .seconds(5)

        public init(deadline: Duration = .seconds(30), quietPeriod: Duration = .seconds(5)) {
            self.deadline = deadline
            self.quietPeriod = quietPeriod
        }
    }

    /// A change of the warm-up, for the caller's log.
    public enum Event: Sendable, Hashable {
        case began(RegistrySync.Warmup, online: Int)
        case ended(reason: String, online: Int, after: TimeInterval)
    }

    public let policy: Policy
    private let registry: AgentRegistry
    /// The online count last seen, and when it last grew.
    private let arrivals = Mutex((online: 0, lastArrival: Date.distantPast))

    public init(registry: AgentRegistry, policy: Policy = Policy()) {
        self.registry = registry
        self.policy = policy
    }

    /// How many agents the next registration's first list is compared with: those online now,
    /// or the count a warm-up in progress still expects (a second restart during a warm-up).
    public var expectedOnline: Int {
        max(registry.snapshot.online.count, registry.sync.status.warmup?.expected ?? 0)
    }

    /// A registration's first full list was applied; `expected` agents were online before.
    /// Begins a warm-up when the list names no agent at all (a server that just started) or
    /// fewer than half of them online. A list of agents that are all offline, with none online
    /// before, is a settled view: nobody is there.
    @discardableResult
    public func firstList(expected: Int, now: Date? = nil) -> Event? {
        let now = now ?? registry.sync.clock.now
        let snapshot = registry.snapshot
        let online = snapshot.online.count
        guard policy.deadline > .zero, snapshot.count == 0 || online * 2 < expected else {
            registry.sync.endWarming(reason: "the agent server's list is complete")
            return nil
        }
        arrivals.withLock { $0 = (online, now) }
        let reason =
            online == 0
            ? "the agent server's agent list is empty (\(expected) agents were online before)"
            : "the agent server lists \(online) online agents of the \(expected) online before"
        let warmup = RegistrySync.Warmup(
            since: now, deadline: now.addingTimeInterval(policy.deadline.seconds), expected: expected, reason: reason)
        registry.sync.beginWarming(warmup)
        return .began(warmup, online: online)
    }

    /// Ends the warm-up when one of its ends is reached at `now`; call after every update.
    @discardableResult
    public func check(now: Date? = nil) -> Event? {
        let now = now ?? registry.sync.clock.now
        guard let warmup = registry.sync.status.warmup else { return nil }
        let online = registry.snapshot.online.count
        let lastArrival = arrivals.withLock { a -> Date in
            if online > a.online { a.lastArrival = now }
            a.online = online
            return a.lastArrival
        }
        let reason: String
        if warmup.expected > 0 && online * 2 >= warmup.expected {
            reason = "\(online) of the \(warmup.expected) agents online before are back"
        } else if online > 0 && now.timeIntervalSince(lastArrival) >= policy.quietPeriod.seconds {
            reason = "\(online) agents are back and no other came for \(policy.quietPeriod)"
        } else if now >= warmup.deadline {
            reason = "the warm-up deadline passed with \(online) agents online"
        } else {
            return nil
        }
        guard registry.sync.endWarming(reason: reason) != nil else { return nil }
        return .ended(reason: reason, online: online, after: now.timeIntervalSince(warmup.since))
    }

    /// When ``check(now:)`` could next end the warm-up without an update (nil: none in progress).
    public func nextCheck() -> Date? {
        guard let warmup = registry.sync.status.warmup else { return nil }
        let (online, lastArrival) = arrivals.withLock { ($0.online, $0.lastArrival) }
        guard online > 0 else { return warmup.deadline }
        return min(warmup.deadline, lastArrival.addingTimeInterval(policy.quietPeriod.seconds))
    }

    /// Ends warm-ups on time (their deadline, a quiet period) until the task is cancelled,
    /// reporting each event to `report`. Idle (waiting for a change of sync state) while no
    /// warm-up is in progress.
    public func watch(report: @Sendable (Event) -> Void) async {
        while !Task.isCancelled {
            let version = registry.sync.status.version
            guard let next = nextCheck() else {
                await registry.sync.change(after: version)
                continue
            }
            // Agents coming back move the next check earlier without a change of sync state:
            // look again at least every quarter of a second while warming up.
            let soon = registry.sync.clock.now.addingTimeInterval(0.25)
            await registry.sync.change(after: version, until: min(next, soon))
            if let event = check() { report(event) }
        }
    }
}

extension Duration {
    /// The duration in seconds, fractions included.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
