import BrokerCore
import BrokerRouter
import CoreMetrics
import Foundation
import Logging
import RoutingRules
import Synchronization

/// A candidate rule set the daemon evaluates beside the live one (`--shadow-rules PATH`): every
/// decided message is decided again by it, with the live decision's registry snapshot, random
/// seed and time, and the two are compared the way `broker diff-rules` compares them. Nothing
/// else happens: nothing is published, settled, or changed in the registry.
///
/// What it keeps: `broker_shadow_decisions_total{live_route,shadow_route,same}`, the last
/// divergent decisions (``recentDivergences``, behind `/shadow`), and one log line per new kind
/// of divergence (live route, shadow route, changed fields). Its rules reload with the live
/// ones (file change, SIGHUP, `POST /-/reload`); an invalid shadow set is refused on its own.
public final class ShadowRules: Sendable {
    public let reloader: RuleReloader
    private let factory: any MetricsFactory
    private let logger = Logger(label: "broker.shadow")
    private let capacity: Int

    /// A message the two rule sets decided differently.
    public struct Divergence: Sendable {
        public var record: RoutingRecord
        /// The shadow rule set that decided it.
        public var shadow: RuleSet
        public var fields: [RuleDiff.Field]
    }

    /// What a comparison is counted under.
    private struct Key: Hashable {
        var liveRoute: String?
        var shadowRoute: String?
        var same: Bool
    }

    private struct State {
        var counters: [Key: (counter: CoreMetrics.Counter, count: Int)] = [:]
        var kinds = Set<String>()
        var recent: [Divergence] = []
        var recentStart = 0
    }

    private let state = Mutex(State())

    /// Loads the shadow rules; throws ``RuleReloader/InvalidRules`` when they are invalid.
    public init(
        paths: [String], registry: AgentRegistry, strict: Bool, metrics: BrokerMetrics, recentDivergences: Int = 50
    ) throws {
        reloader = try RuleReloader(
            paths: paths, registry: registry, strict: strict, metrics: metrics, metricPrefix: "broker_shadow_rules",
            indexesRegistry: false, logger: Logger(label: "broker.shadow-rules"))
        factory = metrics.factory
        capacity = max(1, recentDivergences)
    }

    /// Decides `record`'s message again with the shadow rules and counts the comparison.
    func observe(_ record: RoutingRecord) {
        guard let message = record.message, let snapshot = record.snapshot, let live = record.decision else { return }
        let shadow = reloader.holder.current
        var random = FastRandom(seed: record.seed)
        let decision = shadow.evaluate(message, in: snapshot, random: &random, now: record.at)
        // The common case, the same decision, allocates nothing to find out.
        let fields =
            RuleDiff.Summary.agree(decision, live)
            ? [] : RuleDiff.Summary(decision).differences(from: RuleDiff.Summary(live))
        let same = fields.isEmpty
        let key = Key(liveRoute: live.route, shadowRoute: decision.route, same: same)
        let factory = self.factory
        let (counter, isNewKind) = state.withLock { s -> (CoreMetrics.Counter, Bool) in
            let counter: CoreMetrics.Counter
            if let entry = s.counters[key] {
                counter = entry.counter
                s.counters[key]?.count += 1
            } else {
                counter = CoreMetrics.Counter(
                    label: "broker_shadow_decisions_total",
                    dimensions: [
                        ("live_route", live.route ?? "none"), ("shadow_route", decision.route ?? "none"),
                        ("same", same ? "true" : "false"),
                    ],
                    factory: factory)
                s.counters[key] = (counter, 1)
            }
            guard !same else { return (counter, false) }
            let divergence = Divergence(record: record, shadow: shadow, fields: fields)
            if s.recent.count < capacity {
                s.recent.append(divergence)
            } else {
                s.recent[s.recentStart] = divergence
                s.recentStart = (s.recentStart + 1) % capacity
            }
            let kind = "\(live.route ?? "none") → \(decision.route ?? "none") \(fields.map(\.rawValue))"
            return (counter, s.kinds.insert(kind).inserted)
        }
        counter.increment()
        if isNewKind {
            logger.notice(
                "shadow rules decide differently",
                metadata: [
                    "live_route": "\(live.route ?? "none")", "shadow_route": "\(decision.route ?? "none")",
                    "fields": "\(fields.map(\.rawValue).joined(separator: ","))",
                    "message_id": "\(message.messageID ?? "-")", "shadow_rules": "\(shadow.hash.prefix(12))",
                ])
        }
    }

    /// Decisions compared so far: (live route, shadow route, same) → count.
    public var counts: [(liveRoute: String, shadowRoute: String, same: Bool, count: Int)] {
        state.withLock { s in
            s.counters.map { key, entry in
                (key.liveRoute ?? "none", key.shadowRoute ?? "none", key.same, entry.count)
            }.sorted {
                ($0.liveRoute, $0.shadowRoute, $0.same ? 1 : 0) < ($1.liveRoute, $1.shadowRoute, $1.same ? 1 : 0)
            }
        }
    }

    /// The last divergent decisions, newest first.
    public func recentDivergences(limit: Int) -> [Divergence] {
        state.withLock { s in
            Array((s.recent[s.recentStart...] + s.recent[..<s.recentStart]).reversed().prefix(limit))
        }
    }
}
