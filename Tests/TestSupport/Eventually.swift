import Testing

/// Polls `condition` until it holds; fails the test (and throws) when `timeout` passes first.
/// Every polling loop in the tests goes through this, so a regression fails instead of hanging.
public func eventually(
    _ what: String, timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(20),
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
