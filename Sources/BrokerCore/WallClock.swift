import Foundation

/// The time of day the registry's states, warm-ups and staleness are dated with, and the waits
/// measured on it: the system's (``SystemWallClock``), or in tests one that moves only when it
/// is told, so that a test proves what happens after 30 s without waiting 30 s, and proves that
/// nothing happens before by not moving it.
public protocol WallClock: Sendable {
    /// The time now.
    var now: Date { get }
    /// Returns once ``now`` has reached `deadline`, or when the task is cancelled.
    func sleep(until deadline: Date) async
}

/// The system's time of day.
public struct SystemWallClock: WallClock {
    public init() {}

    public var now: Date { Date() }

    public func sleep(until deadline: Date) async {
        let seconds = deadline.timeIntervalSinceNow
        guard seconds > 0 else { return }
        try? await Task.sleep(for: .milliseconds(Int((seconds * 1000).rounded(.up))))
    }
}
