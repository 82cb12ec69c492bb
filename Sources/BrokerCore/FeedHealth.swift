import Foundation
import Synchronization

/// How current the registry is: whether its status feed is connected, and since when it is not.
///
/// Shared by a registry and all its snapshots (it describes the feed, not the agents), read with
/// two atomic loads, so rules can test `registry.stale` on the hot path.
public final class FeedHealth: Sendable {
    private let connected = Atomic(false)
    private let everSynced = Atomic(false)
    /// When the feed was last known healthy, as seconds since 1970 (bit pattern of a Double).
    private let lastHealthyBits = Atomic<UInt64>(0)

    public init() {}

    /// The feed delivered a full list and is streaming.
    public func markHealthy(now: Date = Date()) {
        connected.store(true, ordering: .releasing)
        everSynced.store(true, ordering: .releasing)
        lastHealthyBits.store(now.timeIntervalSince1970.bitPattern, ordering: .releasing)
    }

    /// The feed is down (it remembers when it was last healthy).
    public func markBroken(now: Date = Date()) {
        if connected.exchange(false, ordering: .acquiringAndReleasing) {
            lastHealthyBits.store(now.timeIntervalSince1970.bitPattern, ordering: .releasing)
        }
    }

    /// Whether the feed is connected and has synced.
    public var isHealthy: Bool { connected.load(ordering: .acquiring) && everSynced.load(ordering: .acquiring) }

    /// Seconds since the feed was last healthy (0 while it is; infinity if it never was).
    public func staleness(now: Date = Date()) -> TimeInterval {
        if isHealthy { return 0 }
        guard everSynced.load(ordering: .acquiring) else { return .infinity }
        let last = Double(bitPattern: lastHealthyBits.load(ordering: .acquiring))
        return max(0, now.timeIntervalSince1970 - last)
    }
}
