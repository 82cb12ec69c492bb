import BrokerTransports
import Foundation
import Logging
import RoutingRules
import Synchronization

extension MessageRouter {
    /// The longest `x-broker-reason` the router writes, in UTF-8 bytes: a reason quotes message
    /// fields (`unknown message_type '…'`), and one that does not fit a frame would make the
    /// dead letter itself unpublishable.
    public static let maximumReasonBytes = 1024

    /// Publishes the original message, unchanged, to `queue` with the reason in its headers,
    /// and settles the input; with a turn (input order), hands it on once the output accepted it. When the dead letter is not confirmed the input is requeued after
    /// a pause that grows while dead-lettering keeps failing, so a missing dead-letter queue
    /// slows the broker down instead of spinning it.
    func deadLetter(
        _ inbound: InboundMessage, code: String, reason: String, route: String?, queue: String, ruleSet: RuleSet,
        turn: Turn?
    ) async -> RoutingOutcome {
        var brokerHeaders: Headers = [
            Header.reason: HeaderValue(Self.bounded(reason, toBytes: Self.maximumReasonBytes)),
            Header.reasonCode: HeaderValue(code),
            Header.originalQueue: HeaderValue(inbound.source),
            Header.ruleSet: HeaderValue(ruleSet.hash),
        ]
        let hops = Self.hops(inbound)
        if hops > 0 { brokerHeaders[Header.hops] = HeaderValue(String(hops)) }
        if let route {
            brokerHeaders[Header.route] = HeaderValue(Self.bounded(route, toBytes: Self.maximumReasonBytes))
        }
        let target = PublishTarget.queue(queue)
        // The original's properties and headers, unchanged, with the broker's headers added.
        var properties = inbound.properties
        for entry in brokerHeaders.entries { properties.headers[entry.name] = entry.value }
        var result = await publish(
            OutboundMessage(body: inbound.body, target: target, properties: properties), turn: turn)
        let ownHeaders = inbound.headers.entries.filter { brokerHeaders[$0.name] == nil }.count
        if case .rejected = result, ownHeaders > 0 {
            // The original's own headers may be what cannot be carried: keep the broker's only.
            brokerHeaders[Header.droppedHeaders] = HeaderValue(String(ownHeaders))
            properties.headers = brokerHeaders
            result = await output.publish(OutboundMessage(body: inbound.body, target: target, properties: properties))
        }
        guard case .confirmed = result else {
            let pause = deadLetters.failed("dead letter to \(queue) not confirmed: \(result)")
            // Cancellation (shutdown) cuts the pause short: the message is requeued either way.
            try? await configuration.pauses.sleep(for: pause)
            inbound.settlement.reject(requeue: true)
            return .requeued(reason: "dead letter to \(queue) not confirmed: \(result)")
        }
        deadLetters.succeeded()
        inbound.settlement.ack()
        return .deadLettered(code: code, reason: reason)
    }

    /// `text` cut to at most `limit` UTF-8 bytes on a character boundary, saying how long it was.
    public static func bounded(_ text: String, toBytes limit: Int) -> String {
        let length = text.utf8.count
        guard length > limit else { return text }
        let suffix = "… (\(length) bytes in all)"
        var kept = 0
        var end = text.startIndex
        for index in text.indices {
            let next = kept + text[index].utf8.count
            if next + suffix.utf8.count > limit { break }
            kept = next
            end = text.index(after: index)
        }
        return String(text[..<end]) + suffix
    }
}

/// How dead-lettering is going: failures so far, the last one, and the pause before the next
/// requeue (exponential while failures follow each other, 50 ms to 5 s with jitter). It logs
/// when dead letters stop going through, every 10 s while they keep failing, and when they
/// go through again.
public final class DeadLetterHealth: Sendable {
    private struct State {
        var consecutiveFailures = 0
        var failures = 0
        var lastFailure: (reason: String, at: Date)?
        var lastLogged = ContinuousClock.now
    }

    private let state = Mutex(State())
    private let logger = Logger(label: "broker.dead-letter")
    private let base: Duration = .milliseconds(50)
    private let cap: Duration = .seconds(5)

    /// Dead letters that were not confirmed, in all.
    public var failures: Int { state.withLock { $0.failures } }

    /// Why the most recent dead letter failed, if the most recent one did.
    public var currentFailure: (reason: String, at: Date)? {
        state.withLock { $0.consecutiveFailures > 0 ? $0.lastFailure : nil }
    }

    /// Records a failure; returns how long to wait before requeueing.
    func failed(_ reason: String) -> Duration {
        let (attempt, log) = state.withLock { s -> (Int, Bool) in
            s.failures += 1
            s.consecutiveFailures += 1
            s.lastFailure = (reason, Date())
            let log = s.consecutiveFailures == 1 || ContinuousClock.now - s.lastLogged >= .seconds(10)
            if log { s.lastLogged = .now }
            return (s.consecutiveFailures, log)
        }
        if log {
            logger.error(
                attempt == 1
                    ? "dead letters are not going through; inputs are requeued with a pause"
                    : "dead letters are still not going through",
                metadata: ["reason": "\(reason)", "consecutive_failures": "\(attempt)"])
        }
        let ceiling = min(cap, base * (1 << min(attempt - 1, 20)))
        return ceiling * Double.random(in: 0.5...1)
    }

    func succeeded() {
        let recovered = state.withLock { s -> Int in
            defer { s.consecutiveFailures = 0 }
            return s.consecutiveFailures
        }
        if recovered > 0 {
            logger.notice("dead letters go through again", metadata: ["failures_before": "\(recovered)"])
        }
    }
}
