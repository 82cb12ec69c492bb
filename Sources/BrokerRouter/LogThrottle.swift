import Synchronization

/// Lets a recurring log line through at most once per ``interval`` and counts the ones it held
/// back, so a flood of the same event (a cycle broken per message, refused records) costs one
/// line every few seconds that says how many it stands for.
public final class LogThrottle: Sendable {
    /// The shortest time between two lines.
    public let interval: Duration
    private let state = Mutex((last: ContinuousClock.Instant?.none, held: 0))

    public init(interval: Duration = .seconds(10)) { self.interval = interval }

    /// Whether to log now; when it is, also how many events were held back since the last line.
    public func admit(now: ContinuousClock.Instant = .now) -> (log: Bool, heldBack: Int) {
        state.withLock { s in
            if let last = s.last, now - last < interval {
                s.held += 1
                return (false, 0)
            }
            defer { s.held = 0 }
            s.last = now
            return (true, s.held)
        }
    }
}
