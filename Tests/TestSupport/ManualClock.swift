import BrokerCore
import Foundation

/// A ``WallClock`` that moves only when a test advances it: what would happen after 30 s
/// happens at once, and what must not happen before it cannot, however slow the machine is.
/// The time of day over a ``TestClock``, which keeps the waits.
public final class ManualClock: WallClock {
    private let origin: Date
    private let clock = TestClock()

    public init(now: Date = Date(timeIntervalSince1970: 1_800_000_000)) { origin = now }

    public var now: Date { origin.addingTimeInterval(clock.now.offset.seconds) }

    /// How many waits on this clock are pending (a test waits until the code under test sleeps).
    public var sleepers: Int { clock.sleepers }

    /// Moves the time forward by `duration` and wakes every wait it makes due.
    public func advance(by duration: Duration) { clock.advance(by: duration) }

    public func sleep(until deadline: Date) async {
        // To the microsecond: a `Date` this far from 1970 is exact to about 0.1 µs, so a deadline
        // made by adding 30 s to ``now`` maps to exactly 30 s after it.
        let offset = Duration.microseconds(Int64((deadline.timeIntervalSince(origin) * 1e6).rounded()))
        try? await clock.sleep(until: TestClock.Instant(offset: offset))
    }
}
