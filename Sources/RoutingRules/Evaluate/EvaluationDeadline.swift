/// The instant an evaluation of untrusted rules gives up: trials of pasted rules
/// (`POST /-/try`) carry one; the routing path never does.
///
/// The costly steps check it as they go (a regular expression every few thousand steps of its
/// automaton), so an evaluation stops within milliseconds of the instant. Once it has passed,
/// every further costly step answers at once and the rest of the evaluation runs through
/// quickly; its result is then meaningless and the caller discards it (``hasPassed``).
///
/// One evaluation on one thread uses it: it is not shared.
public final class EvaluationDeadline {
    /// When the evaluation must stop.
    public let instant: ContinuousClock.Instant
    /// Whether a check found the instant passed (then the evaluation's result is incomplete).
    public private(set) var hasPassed = false

    public init(_ instant: ContinuousClock.Instant) { self.instant = instant }

    /// A deadline `duration` from now.
    public convenience init(after duration: Duration) { self.init(ContinuousClock.now + duration) }

    /// Whether the instant has passed (reads the clock until it has).
    @discardableResult
    public func check() -> Bool {
        if !hasPassed && ContinuousClock.now >= instant { hasPassed = true }
        return hasPassed
    }
}
