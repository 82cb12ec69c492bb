import Testing

/// Polls `condition` until it holds; fails the test (and throws) when `timeout` passes first.
/// Every polling loop in the tests goes through this, so a regression fails instead of hanging.
/// The default is a hang guard, not a measure: the whole suite runs at once on two cores, and
/// its first seconds can hold a test back for ten.
public func eventually(
    _ what: String, timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(20),
    sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !(try await condition()) {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out after \(timeout) waiting until \(what)", sourceLocation: sourceLocation)
            throw TimedOut(what: what)
        }
        try await Task.sleep(for: interval)
    }
}

/// The error ``eventually(_:timeout:every:sourceLocation:_:)`` throws.
public struct TimedOut: Error, CustomStringConvertible {
    public var what: String

    public init(what: String) { self.what = what }

    public var description: String { "timed out waiting until \(what)" }
}

/// Checks `condition` throughout `window` and fails the test (and throws) the first time it
/// does not hold: how a test proves that something does not happen where no clock can be
/// advanced (another process, a real server). It always takes the whole window.
public func remains(
    _ what: String, for window: Duration, every interval: Duration = .milliseconds(20),
    sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
) async throws {
    let end = ContinuousClock.now + window
    repeat {
        guard try await condition() else {
            Issue.record("no longer true within \(window): \(what)", sourceLocation: sourceLocation)
            throw TimedOut(what: what)
        }
        try await Task.sleep(for: interval)
    } while ContinuousClock.now < end
}

/// Spends `duration` on purpose: spacing out the traffic a test generates, or keeping a fault
/// in place while the system under test lives with it. Never a wait for something to happen
/// (that is ``eventually(_:timeout:every:sourceLocation:_:)``) nor a proof that it does not
/// (``remains(_:for:every:sourceLocation:_:)``).
public func pace(_ duration: Duration) async throws {
    try await Task.sleep(for: duration)
}
