import BrokerCore
import BrokerRouter
import CoreMetrics
import Foundation
import Logging
import RoutingRules
import Synchronization

/// What the daemon does with each routing decision once it is made: counters and the
/// decision-time histogram (through swift-metrics, into ``BrokerMetrics``), a debug log line, the
/// ring of recent decisions behind `/decisions`, the `--record` file, the comparison with
/// `--shadow-rules`, and a question to the agent feed about agents the registry does not know.
public final class DecisionObserver: RouterObserver {
    private struct State {
        /// Counters by route and outcome, made once per label set.
        var decisions: [Labels: CoreMetrics.Counter] = [:]
        var deadLetters: [String: CoreMetrics.Counter] = [:]
        var recent: [RoutingRecord] = []
        var recentStart = 0
        var counts = DecisionCounts()
        /// Messages published to each agent (what the console shows per agent).
        var deliveries: [String: Int] = [:]
    }

    /// Decisions since start, by route and outcome (the totals behind `broker_decisions_total`).
    public struct DecisionCounts: Sendable, Equatable {
        public var total = 0
        /// Route → outcome → count.
        public var byRoute: [String: [String: Int]] = [:]

        public init(total: Int = 0, byRoute: [String: [String: Int]] = [:]) {
            self.total = total
            self.byRoute = byRoute
        }
    }

    /// The labels of one `broker_decisions_total` series.
    private struct Labels: Hashable {
        let route: String
        let outcome: String
    }

    private let state = Mutex(State())
    private let logger = Logger(label: "broker.decisions")
    private let capacity: Int
    private let unknownAgent: (@Sendable (String) -> Void)?
    private let factory: any MetricsFactory
    private let decisionTime: CoreMetrics.Timer
    private let recorder: DecisionRecorder?
    private let shadow: ShadowRules?

    /// - Parameters:
    ///   - metrics: where the counters go.
    ///   - recentDecisions: how many decisions `/decisions` can show.
    ///   - onUnknownAgent: called with an `agent_*` id that a message names and the registry does
    ///     not know (the daemon asks the server for a refresh).
    ///   - recorder: where every decision is written as a line (`--record`).
    ///   - shadow: the candidate rules each decision is compared with (`--shadow-rules`).
    public init(
        metrics: BrokerMetrics, recentDecisions: Int = 100, onUnknownAgent: (@Sendable (String) -> Void)? = nil,
        recorder: DecisionRecorder? = nil, shadow: ShadowRules? = nil
    ) {
        self.recorder = recorder
        self.shadow = shadow
        capacity = max(recentDecisions, 1)
        unknownAgent = onUnknownAgent
        factory = metrics.factory
        decisionTime = CoreMetrics.Timer(label: "broker_decision_seconds", factory: metrics.factory)
    }

    public func observe(_ record: RoutingRecord) {
        let (route, outcome) = Self.labels(record)
        // One line per decision at debug level (built only when debug logging is on).
        logger.debug(
            "decision",
            metadata: [
                "route": "\(route)", "outcome": "\(outcome)", "rule_set": "\(record.ruleSet.hash.prefix(12))",
                "message_id": "\(record.message?.messageID ?? "-")",
                "agent": "\(record.decision?.deliveries.compactMap(\.agentID).joined(separator: ",") ?? "-")",
            ])
        let factory = self.factory
        let (decisions, deadLetters) = state.withLock { s -> (CoreMetrics.Counter, CoreMetrics.Counter?) in
            let key = Labels(route: route, outcome: outcome)
            let counter =
                s.decisions[key]
                ?? CoreMetrics.Counter(
                    label: "broker_decisions_total", dimensions: [("route", route), ("outcome", outcome)],
                    factory: factory)
            s.decisions[key] = counter
            s.counts.total += 1
            s.counts.byRoute[route, default: [:]][outcome, default: 0] += 1
            if case .published = record.outcome, let deliveries = record.decision?.deliveries {
                for delivery in deliveries { if let id = delivery.agentID { s.deliveries[id, default: 0] += 1 } }
            }
            var dead: CoreMetrics.Counter?
            if case .deadLettered(let code, _) = record.outcome {
                dead =
                    s.deadLetters[code]
                    ?? CoreMetrics.Counter(
                        label: "broker_dead_letters_total", dimensions: [("reason", code)], factory: factory)
                s.deadLetters[code] = dead
            }
            // The log holds small messages whole (their trace can be replayed) and large ones
            // by id only: 100 records of 128 MiB each must not stay in memory.
            let kept = record.bodySize > Self.maximumRecordedBodySize ? record.trimmed() : record
            if s.recent.count < capacity {
                s.recent.append(kept)
            } else {
                s.recent[s.recentStart] = kept
                s.recentStart = (s.recentStart + 1) % capacity
            }
            return (counter, dead)
        }
        decisions.increment()
        deadLetters?.increment()
        recorder?.observe(record)
        shadow?.observe(record)
        if record.decision != nil { decisionTime.recordInterval(record.evaluation) }
        if let unknownAgent, let message = record.message, let snapshot = record.snapshot {
            for id in [message.senderID, message.receiverID] {
                guard let id, id.hasPrefix("agent_"), snapshot.slot(of: id) == nil else { continue }
                unknownAgent(id)
            }
        }
    }

    /// Messages larger than this are kept in `/decisions` without their body and trace.
    public static let maximumRecordedBodySize = 64 << 10

    static func labels(_ record: RoutingRecord) -> (route: String, outcome: String) {
        let route = record.decision?.route ?? record.routeName ?? "none"
        switch record.outcome {
        case .published: return (route, "published")
        case .deadLettered(let code, _): return (route, "dead_letter_" + code)
        case .dropped: return (route, "dropped")
        case .statusApplied: return (route, "status_update")
        case .requeued: return (route, "requeued")
        }
    }

    /// Decisions since start, by route and outcome.
    public var decisionCounts: DecisionCounts { state.withLock { $0.counts } }

    /// Messages published to each agent since start (agents that received none are absent).
    public var deliveriesByAgent: [String: Int] { state.withLock { $0.deliveries } }

    /// The most recent decisions, newest first.
    public func recentDecisions(limit: Int) -> [RoutingRecord] {
        state.withLock { s in
            let ordered = Array(s.recent[s.recentStart...] + s.recent[..<s.recentStart])
            return Array(ordered.reversed().prefix(limit))
        }
    }
}

extension CoreMetrics.Timer {
    /// Records `duration` in nanoseconds.
    func recordInterval(_ duration: Duration) {
        recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
