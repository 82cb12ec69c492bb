import BrokerCore
import BrokerTransports
import Foundation

/// Decides whether the router may decide now, from the registry's sync state and the policy.
///
/// A synced registry routes. A stale one (the status stream of a current registration dropped)
/// still routes for ``RouterConfiguration/maximumStaleness`` — a blip that resyncs within it
/// does not pause anything — and then the policy applies. An unsynced one (no full list from the
/// current registration: start-up, a lost link, a new registration) follows the policy at once:
/// wait (the default), route anyway, or dead-letter. Before the registry has been synced even
/// once, every policy waits: nothing is decided on an empty registry.
public struct RoutingGate: Sendable {
    /// What to do with a message now.
    public enum Verdict: Sendable, Hashable {
        /// Route it (until `until`, when the state would no longer allow it without a change).
        case route(until: Date?)
        /// Hold it until the registry syncs.
        case wait(reason: String)
        /// Dead-letter it with this reason code and text.
        case deadLetter(code: String, reason: String)
    }

    public let sync: RegistrySync
    public let policy: RouterConfiguration.StalePolicy
    public let maximumStaleness: Duration

    public init(sync: RegistrySync, policy: RouterConfiguration.StalePolicy, maximumStaleness: Duration) {
        self.sync = sync
        self.policy = policy
        self.maximumStaleness = maximumStaleness
    }

    /// The verdict for `status` at `now` (the sync's clock's time when nil).
    public func verdict(_ status: RegistrySync.Status, now: Date? = nil) -> Verdict {
        let now = now ?? sync.clock.now
        let blipEnds = status.since.addingTimeInterval(maximumStaleness.seconds)
        switch status.state {
        case .synced:
            return .route(until: nil)
        case .stale where now < blipEnds:
            return .route(until: blipEnds)
        case .stale, .unsynced:
            let reason =
                status.state == .stale
                ? "the status stream has been down for \(Int(now.timeIntervalSince(status.since))) s"
                : status.reason
            if sync.staleness(now: now).isInfinite { return .wait(reason: reason) }
            switch policy {
            case .wait: return .wait(reason: reason)
            case .routeAnyway: return .route(until: nil)
            case .deadLetter:
                return .deadLetter(
                    code: status.state == .stale ? "registry_stale" : "registry_unsynced",
                    reason: "the agent registry is not synced with the agent server: \(reason)")
            }
        }
    }

    /// The verdict now.
    public var verdict: Verdict { verdict(sync.status) }

    /// Returns once the verdict is no longer `wait` (or the task is cancelled).
    public func waitWhileHeld() async {
        while !Task.isCancelled {
            let status = sync.status
            guard case .wait = verdict(status) else { return }
            await sync.change(after: status.version)
        }
    }

    /// Pauses `input` while messages must wait and resumes it when they may flow again (within
    /// one state change: the resume follows the full list that synced the registry). Calls
    /// `onChange` with each new verdict. Runs until the task is cancelled.
    public func controlFlow(of input: any InboundSource, onChange: @Sendable (Verdict) -> Void = { _ in }) async {
        var last: Verdict?
        while !Task.isCancelled {
            let status = sync.status
            let verdict = verdict(status)
            switch verdict {
            case .wait: input.pause()
            case .route, .deadLetter: input.resume()
            }
            if verdict != last {
                onChange(verdict)
                last = verdict
            }
            if case .route(let until?) = verdict {
                await sync.change(after: status.version, until: until)
            } else {
                await sync.change(after: status.version)
            }
        }
    }
}

extension RoutingGate.Verdict {
    /// This verdict if it holds messages; otherwise a `wait` with `reason` (for a task that was
    /// stopped before it could act on a verdict that lets messages through).
    func waiting(or reason: String) -> Self {
        if case .wait = self { return self }
        return .wait(reason: reason)
    }
}
