import BrokerTransports
import Logging
import Synchronization

/// Declares again an output queue the rules name by a fixed name when the message system says
/// it is gone (a copy came back `NO_ROUTE`), as the input queue is declared again when its
/// consumer is cancelled. Without it every copy waited out `--unroutable-retry` (30 s) and was
/// dead-lettered, about 8 messages a second, with nothing in the log.
///
/// At most one declaration per queue per second, however many copies come back; a failed one
/// is logged and shows in readiness until a later one succeeds.
public final class OutputQueueRepair: Sendable {
    private let output: any OutboundSink
    private let state = Mutex<[String: (last: ContinuousClock.Instant, failure: String?)]>([:])
    private let logger = Logger(label: "broker.output")

    public init(output: any OutboundSink) { self.output = output }

    /// Queues whose last declaration failed, with why.
    public var failures: [(queue: String, reason: String)] {
        state.withLock { s in s.compactMap { entry in entry.value.failure.map { (entry.key, $0) } } }
            .sorted { $0.queue < $1.queue }
    }

    /// A copy to `queue` found no queue: declares it again unless that was tried within the
    /// last second.
    func queueMissing(_ queue: String) async {
        let now = ContinuousClock.now
        let due = state.withLock { s -> Bool in
            if let entry = s[queue], now - entry.last < .seconds(1) { return false }
            s[queue] = (now, s[queue]?.failure)
            return true
        }
        guard due else { return }
        do {
            try await output.declareAgain([queue])
            state.withLock { $0[queue]?.failure = nil }
            logger.warning("an output queue was gone: declared it again", metadata: ["queue": "\(queue)"])
        } catch {
            state.withLock { $0[queue]?.failure = "\(error)" }
            logger.error(
                "an output queue is gone and cannot be declared again",
                metadata: ["queue": "\(queue)", "error": "\(error)"])
        }
    }
}
