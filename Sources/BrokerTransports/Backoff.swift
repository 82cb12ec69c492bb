/// Exponential backoff with full jitter, for reconnecting: delay n is a random duration in
/// `0...min(cap, base × 2ⁿ)`, so many clients that lost the same server do not return in step.
public struct Backoff: Sendable {
    public var base: Duration
    public var cap: Duration
    private var attempt = 0

    public init(base: Duration = .milliseconds(100), cap: Duration = .seconds(30)) {
        self.base = base
        self.cap = cap
    }

    /// The delay before the next attempt.
    public mutating func next() -> Duration {
        let exponent = min(attempt, 30)
        attempt += 1
        let ceiling = min(cap, base * (1 << exponent))
        let nanoseconds = Double(ceiling.components.seconds) * 1e9 + Double(ceiling.components.attoseconds) / 1e9
        return .nanoseconds(Int64(Double.random(in: 0...1) * nanoseconds))
    }

    /// After a success: start again from `base`.
    public mutating func reset() { attempt = 0 }
}
