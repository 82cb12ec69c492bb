import Foundation
import Synchronization

/// Whether the registry holds what the agent server knows now, and since when.
///
/// A registry is **synced** when it holds a full agent list from the server registration that is
/// current. It is **stale** when the status stream of that same registration dropped (a blip:
/// the server is still there, its agent ids still valid, the list may be out of date). It is
/// **unsynced** before the first full list, after the server link dropped, and after a new
/// registration until that registration's first full list: the server may have restarted and
/// forgotten its agents, so the old list must not be routed on.
///
/// Shared by a registry and all its snapshots (it describes the feed, not the agents). Rules read
/// it on the hot path with atomic loads; the router and the daemon wait on its changes.
public final class RegistrySync: Sendable {
    /// The three states.
    public enum State: String, Sendable, Hashable, CaseIterable {
        case unsynced, synced, stale
    }

    /// The state with what caused it and when it began.
    public struct Status: Sendable, Hashable {
        public var state: State
        /// When the state began.
        public var since: Date
        /// Why (for logs and `/readyz`).
        public var reason: String
        /// Increases with every change.
        public var version: UInt64
        /// Set while the registry warms up after the agent server (re)started (see
        /// ``RegistryWarmup``): synced, but the server's view has not settled yet.
        public var warmup: Warmup?
    }

    /// A warm-up in progress: the server's first list after a registration was empty, or named
    /// far fewer online agents than were online before, and its agents are still reconnecting.
    public struct Warmup: Sendable, Hashable {
        /// When it began.
        public var since: Date
        /// When it ends at the latest.
        public var deadline: Date
        /// Agents online before the server's list came back short.
        public var expected: Int
        /// Why it began.
        public var reason: String

        public init(since: Date, deadline: Date, expected: Int, reason: String) {
            self.since = since
            self.deadline = deadline
            self.expected = expected
            self.reason = reason
        }
    }

    private let stateCode = Atomic<UInt8>(0)
    private let warming = Atomic<Bool>(false)
    /// When the registry was last synced, as seconds since 1970 (bit pattern of a Double; 0: never).
    private let lastSyncedBits = Atomic<UInt64>(0)
    private let current: Mutex<Status>
    private let waiters = Mutex<[UInt64: CheckedContinuation<Void, Never>]>([:])
    private let nextWaiter = Atomic<UInt64>(0)

    /// The clock its states are dated with, and the one to wait on for what they make due.
    public let clock: any WallClock

    public init(clock: any WallClock = SystemWallClock()) {
        self.clock = clock
        current = Mutex(
            Status(state: .unsynced, since: clock.now, reason: "no agent list received yet", version: 0))
    }

    /// Whether the registry is synced right now.
    public var isSynced: Bool { stateCode.load(ordering: .acquiring) == 1 }

    /// The state now.
    public var state: State {
        switch stateCode.load(ordering: .acquiring) {
        case 1: .synced
        case 2: .stale
        default: .unsynced
        }
    }

    /// The state with its reason and start.
    public var status: Status { current.withLock { $0 } }

    /// Whether the registry is warming up (one atomic load: the router asks per decision).
    public var isWarming: Bool { warming.load(ordering: .acquiring) }

    /// Starts a warm-up (replacing one in progress). Decisions that depend on who is online wait
    /// until ``endWarming(reason:)``.
    public func beginWarming(_ warmup: Warmup) {
        change { status in
            status.warmup = warmup
            return true
        }
    }

    /// Ends the warm-up in progress; returns it (nil when none was).
    @discardableResult
    public func endWarming(reason: String) -> Warmup? {
        var ended: Warmup?
        change { status in
            ended = status.warmup
            status.warmup = nil
            return ended != nil
        }
        return ended
    }

    /// Applies `edit` to the status under the lock; when it says it changed something, the
    /// version moves and every waiter wakes.
    private func change(_ edit: (inout Status) -> Bool) {
        let changed = current.withLock { status -> Bool in
            guard edit(&status) else { return false }
            status.version += 1
            warming.store(status.warmup != nil, ordering: .releasing)
            return true
        }
        if changed { wakeWaiters() }
    }

    /// Seconds since the registry was last synced: 0 while it is, infinity if it never was.
    public func staleness(now: Date? = nil) -> TimeInterval {
        let now = now ?? clock.now
        if isSynced { return 0 }
        let bits = lastSyncedBits.load(ordering: .acquiring)
        guard bits != 0 else { return .infinity }
        return max(0, now.timeIntervalSince1970 - Double(bitPattern: bits))
    }

    /// A full list from the current registration was applied.
    public func markSynced(now: Date? = nil) {
        transition(to: .synced, reason: "full agent list received", now: now ?? clock.now)
    }

    /// The status stream dropped while the registration stays current (a blip). Has no effect on
    /// an unsynced registry: it stays unsynced.
    public func markStale(reason: String, now: Date? = nil) {
        guard state == .synced else { return }
        transition(to: .stale, reason: reason, now: now ?? clock.now)
    }

    /// The registration was lost or replaced: the list must not be routed on until a full list of
    /// the new registration arrives.
    public func markUnsynced(reason: String, now: Date? = nil) {
        transition(to: .unsynced, reason: reason, now: now ?? clock.now)
    }

    private func transition(to state: State, reason: String, now: Date) {
        let changed = current.withLock { status -> Bool in
            guard status.state != state || (state == .unsynced && status.reason != reason) else { return false }
            // Leaving or entering the synced state: that instant is the last one known synced.
            if status.state == .synced || state == .synced {
                lastSyncedBits.store(now.timeIntervalSince1970.bitPattern, ordering: .releasing)
            }
            // A lost registration ends a warm-up: the next registration's first list decides anew.
            let warmup = state == .unsynced ? nil : status.warmup
            status = Status(state: state, since: now, reason: reason, version: status.version + 1, warmup: warmup)
            stateCode.store(state == .synced ? 1 : state == .stale ? 2 : 0, ordering: .releasing)
            warming.store(warmup != nil, ordering: .releasing)
            return true
        }
        if changed { wakeWaiters() }
    }

    private func wakeWaiters() {
        let resumed = waiters.withLock { waiters in
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for waiter in resumed { waiter.resume() }
    }

    /// Returns after the next change of state (immediately if the version already moved past
    /// `version`), or when the task is cancelled.
    public func change(after version: UInt64) async {
        let id = nextWaiter.add(1, ordering: .relaxed).newValue
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = current.withLock { status -> Bool in
                    guard status.version == version, !Task.isCancelled else { return true }
                    waiters.withLock { $0[id] = continuation }
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            // Under the same lock as the registration above, so a waiter is never left behind.
            current.withLock { _ in waiters.withLock { $0.removeValue(forKey: id) } }?.resume()
        }
    }

    /// Returns after the next change of state or once ``clock`` reaches `deadline`, whichever
    /// comes first.
    public func change(after version: UInt64, until deadline: Date) async {
        let clock = self.clock
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.change(after: version) }
            group.addTask { await clock.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
    }
}
