import Synchronization

/// A flag that tasks, threads and event loops set once and read.
public final class AtomicFlag: Sendable {
    private let value = Atomic(false)

    public init() {}

    /// Whether it was set.
    public var isSet: Bool { value.load(ordering: .acquiring) }

    /// Sets it.
    public func set() { value.store(true, ordering: .releasing) }
}
