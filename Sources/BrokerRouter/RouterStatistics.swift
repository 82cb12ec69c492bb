import Synchronization

/// Running counts of routing outcomes.
public final class RouterStatistics: Sendable {
    private let published = Atomic<Int>(0)
    private let deadLettered = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let statusUpdates = Atomic<Int>(0)
    private let requeued = Atomic<Int>(0)
    private let started = Atomic<Int>(0)
    private let publishRetries = Atomic<Int>(0)

    private let waiting = Atomic<Int>(0)
    private let waited = Atomic<Int>(0)
    private let held = Atomic<Int>(0)

    func begin() { started.add(1, ordering: .relaxed) }

    /// A decision that chose among agents waits for the registry's warm-up to end.
    func beginWaitingForAgents() {
        waiting.add(1, ordering: .relaxed)
        waited.add(1, ordering: .relaxed)
    }

    func endWaitingForAgents() { waiting.subtract(1, ordering: .relaxed) }

    /// Messages waiting now for the agent server's view to settle (held unacknowledged).
    public var waitingForAgents: Int { waiting.load(ordering: .relaxed) }

    /// Messages that waited for a warm-up to end so far.
    public var waitedForAgents: Int { waited.load(ordering: .relaxed) }

    /// A message delivered before the input paused waits for the registry to sync.
    func beginWaitingForRegistry() { held.add(1, ordering: .relaxed) }

    func endWaitingForRegistry() { held.subtract(1, ordering: .relaxed) }

    /// Messages held now (unacknowledged) until the registry syncs with the agent server.
    public var waitingForRegistry: Int { held.load(ordering: .relaxed) }

    func retried(_ copies: Int) { publishRetries.add(copies, ordering: .relaxed) }

    /// Copies published again after a full queue refused them or no queue took them.
    public var retries: Int { publishRetries.load(ordering: .relaxed) }

    /// Messages taken and not yet settled (or requeued).
    public var inFlight: Int {
        let s = snapshot
        return started.load(ordering: .relaxed) - s.published - s.deadLettered - s.dropped - s.statusUpdates
            - s.requeued
    }

    func count(_ outcome: RoutingOutcome) {
        switch outcome {
        case .published: published.add(1, ordering: .relaxed)
        case .deadLettered: deadLettered.add(1, ordering: .relaxed)
        case .dropped: dropped.add(1, ordering: .relaxed)
        case .statusApplied: statusUpdates.add(1, ordering: .relaxed)
        case .requeued: requeued.add(1, ordering: .relaxed)
        }
    }

    /// (published, dead-lettered, dropped, status updates, requeued) so far.
    public var snapshot: (published: Int, deadLettered: Int, dropped: Int, statusUpdates: Int, requeued: Int) {
        (
            published.load(ordering: .relaxed), deadLettered.load(ordering: .relaxed), dropped.load(ordering: .relaxed),
            statusUpdates.load(ordering: .relaxed), requeued.load(ordering: .relaxed)
        )
    }

    /// Messages settled so far (everything but requeues).
    public var settled: Int {
        let s = snapshot
        return s.published + s.deadLettered + s.dropped + s.statusUpdates
    }
}
