import BrokerCore
import Foundation
import Synchronization

/// Recognises a message that keeps coming back to the broker although everything outside its
/// JSON body is rebuilt on the way (the agent server republishes every `pending` message to the
/// input queue with fresh AMQP properties, so a hop count in the properties starts again at 0).
///
/// How: for every message it publishes, the router records the content hash of the published
/// body (``BrokerCore/JSONObject/contentHash``: key order, spacing and number spelling do not
/// matter) with the number of round trips that led to it. A message arriving whose content hash
/// is recorded has come back: it is its round trip number `n + 1`, and what the router publishes
/// for it is recorded with `n + 1`. When a message comes back more than ``maximumRoundTrips``
/// times within ``window`` it is dead-lettered as `routing_cycle`. A message the server builds
/// itself (an `ERROR` for an offline receiver) has a body the broker never published, so its
/// first pass through the broker is not a round trip.
///
/// Memory: a fixed table of `slots` 64-bit entries (1 MiB for the default 131,072), allocated
/// once, read and written with relaxed atomics: no lock, no allocation per message. An entry
/// holds 24 bits of the hash as a tag, the round trip count and a timestamp; a newer message
/// whose hash falls into the same slot overwrites it, so under heavy load a cycle may take a few
/// more round trips to be caught, never fewer (a false match needs 40 equal hash bits).
public final class CycleDetector: @unchecked Sendable {
    /// Round trips allowed before a returning message is dead-lettered (0 disables detection).
    public let maximumRoundTrips: Int
    /// How long a recorded message counts as recent.
    public let window: Duration
    private let slotCount: Int
    private let slots: UnsafeMutablePointer<Atomic<UInt64>>
    private let seconds: @Sendable () -> Int
    private let start: Int

    /// - Parameter seconds: the clock, in whole seconds (default: the monotonic clock; tests
    ///   pass one they advance).
    public init(
        maximumRoundTrips: Int = 10, window: Duration = .seconds(60), slots: Int = 1 << 17,
        seconds: @escaping @Sendable () -> Int = CycleDetector.monotonicSeconds
    ) {
        precondition(slots > 0 && slots & (slots - 1) == 0, "slots must be a power of two")
        self.maximumRoundTrips = maximumRoundTrips
        self.window = window
        self.seconds = seconds
        start = seconds()
        self.slotCount = slots
        self.slots = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: slots)
        for i in 0..<slots { (self.slots + i).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: slotCount)
        slots.deallocate()
    }

    /// Whether detection is on.
    public var isEnabled: Bool { maximumRoundTrips > 0 }

    /// The bytes the table occupies.
    public var memoryBytes: Int { slotCount * MemoryLayout<UInt64>.stride }

    /// How many round trips brought a message with this content hash here (0: it is new).
    public func roundTrips(of hash: UInt64) -> Int {
        let entry = slots[index(hash)].load(ordering: .relaxed)
        guard entry != 0, entry >> 40 == tag(hash) else { return 0 }
        let seconds = UInt32(truncatingIfNeeded: entry) &- 1
        guard Int(now) - Int(seconds) <= Int(window.components.seconds) else { return 0 }
        return Int((entry >> 32) & 0xFF)
    }

    /// Records that the broker publishes a body with this content hash after `roundTrips`
    /// round trips.
    public func record(_ hash: UInt64, roundTrips: Int) {
        let trips = UInt64(min(max(roundTrips, 0), 255))
        let entry = tag(hash) << 40 | trips << 32 | UInt64(now &+ 1)
        slots[index(hash)].store(entry, ordering: .relaxed)
    }

    private func index(_ hash: UInt64) -> Int { Int(truncatingIfNeeded: hash) & (slotCount - 1) }
    private func tag(_ hash: UInt64) -> UInt64 { hash >> 40 }

    /// Whole seconds since the detector was created.
    private var now: UInt32 { UInt32(truncatingIfNeeded: seconds() - start) }

    /// Seconds of the monotonic clock, from its coarse variant (a few nanoseconds to read; its
    /// resolution of a few milliseconds is plenty for a window in seconds).
    @Sendable public static func monotonicSeconds() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &time)
        return time.tv_sec
    }
}
