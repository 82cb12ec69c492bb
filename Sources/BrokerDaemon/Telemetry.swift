import BrokerCore
import BrokerRouter
import Foundation
import Logging
import RoutingRules
import Synchronization

/// What the daemon counts and remembers about routing, for `/metrics` and `/decisions`.
public final class Telemetry: RouterObserver {
    /// Upper bounds (seconds) of the decision-latency histogram buckets.
    static let latencyBuckets: [Double] = [0.000_001, 0.000_005, 0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005]

    private struct Counts {
        var decisions: [String: Int] = [:]  // "route\u{0}outcome"
        var deadLetters: [String: Int] = [:]
        var latency = [Int](repeating: 0, count: Telemetry.latencyBuckets.count + 1)
        var latencySum = 0.0
        var recent: [RoutingRecord] = []
        var recentStart = 0
    }

    private let counts = Mutex(Counts())
    private let logger = Logger(label: "broker.decisions")
    private let capacity: Int
    private let unknownAgent: (@Sendable (String) -> Void)?

    /// - Parameters:
    ///   - recentDecisions: how many decisions `/decisions` can show.
    ///   - onUnknownAgent: called with an `agent_*` id that a message names and the registry does
    ///     not know (the daemon asks the server for a refresh).
    public init(recentDecisions: Int = 100, onUnknownAgent: (@Sendable (String) -> Void)? = nil) {
        capacity = max(recentDecisions, 1)
        unknownAgent = onUnknownAgent
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
        let seconds =
            Double(record.evaluation.components.attoseconds) / 1e18 + Double(record.evaluation.components.seconds)
        counts.withLock { c in
            c.decisions[route + "\u{0}" + outcome, default: 0] += 1
            if case .deadLettered(let code, _) = record.outcome { c.deadLetters[code, default: 0] += 1 }
            if record.decision != nil {
                let bucket = Self.latencyBuckets.firstIndex { seconds <= $0 } ?? Self.latencyBuckets.count
                c.latency[bucket] += 1
                c.latencySum += seconds
            }
            if c.recent.count < capacity {
                c.recent.append(record)
            } else {
                c.recent[c.recentStart] = record
                c.recentStart = (c.recentStart + 1) % capacity
            }
        }
        if let unknownAgent, let message = record.message, let snapshot = record.snapshot {
            for id in [message.senderID, message.receiverID].compactMap({ $0 })
            where id.hasPrefix("agent_") && snapshot.slot(of: id) == nil {
                unknownAgent(id)
            }
        }
    }

    static func labels(_ record: RoutingRecord) -> (route: String, outcome: String) {
        let route = record.decision?.route ?? "none"
        switch record.outcome {
        case .published: return (route, "published")
        case .deadLettered(let code, _): return (route, "dead_letter_" + code)
        case .dropped: return (route, "dropped")
        case .statusApplied: return (route, "status_update")
        case .requeued: return (route, "requeued")
        }
    }

    /// Messages per (route, outcome) so far.
    public var decisionCounts: [(route: String, outcome: String, count: Int)] {
        counts.withLock { c in
            c.decisions.map { key, value in
                let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
                return (parts[0], parts[1], value)
            }.sorted { $0.route < $1.route }
        }
    }

    /// The most recent decisions, newest first.
    public func recentDecisions(limit: Int) -> [RoutingRecord] {
        counts.withLock { c in
            let ordered = Array(c.recent[c.recentStart...] + c.recent[..<c.recentStart])
            return Array(ordered.reversed().prefix(limit))
        }
    }

    /// Writes the routing metrics in Prometheus text format.
    func writeMetrics(into text: inout String) {
        let c = counts.withLock { $0 }
        text +=
            "# HELP broker_decisions_total Messages routed, by route and outcome.\n# TYPE broker_decisions_total counter\n"
        for (key, value) in c.decisions.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false)
            text +=
                "broker_decisions_total{route=\"\(Prometheus.escape(String(parts[0])))\",outcome=\"\(parts[1])\"} \(value)\n"
        }
        text +=
            "# HELP broker_dead_letters_total Messages dead-lettered, by reason.\n# TYPE broker_dead_letters_total counter\n"
        for (reason, value) in c.deadLetters.sorted(by: { $0.key < $1.key }) {
            text += "broker_dead_letters_total{reason=\"\(Prometheus.escape(reason))\"} \(value)\n"
        }
        text +=
            "# HELP broker_decision_seconds Time to evaluate the rules for one message.\n# TYPE broker_decision_seconds histogram\n"
        var cumulative = 0
        for (i, bound) in Self.latencyBuckets.enumerated() {
            cumulative += c.latency[i]
            text += "broker_decision_seconds_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += c.latency[Self.latencyBuckets.count]
        text += "broker_decision_seconds_bucket{le=\"+Inf\"} \(cumulative)\n"
        text += "broker_decision_seconds_sum \(c.latencySum)\nbroker_decision_seconds_count \(cumulative)\n"
    }
}

/// Prometheus text-format helpers.
enum Prometheus {
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func gauge(_ name: String, _ help: String, _ value: Double, into text: inout String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(format(value))\n"
    }

    static func format(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value.rounded() == value && abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
