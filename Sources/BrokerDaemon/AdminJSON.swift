import BrokerCore
import BrokerRouter
import Foundation
import RoutingRules
import Synchronization

/// The JSON the admin API and the console show: decisions with their traces, agents, the
/// shadow comparison, a warm-up in progress.
enum AdminJSON {
    /// An instant as every admin answer and page shows it: ISO 8601, UTC, whole seconds.
    static func timestamp(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// The warm-up in progress (`null` when none is), with the messages that wait for it.
    static func warmup(_ status: RegistrySync.Status, waiting: Int) -> JSONValue {
        guard let warmup = status.warmup else { return .null }
        return .object(
            JSONObject([
                ("since", .string(timestamp(warmup.since))), ("deadline", .string(timestamp(warmup.deadline))),
                ("expected", .number(JSONNumber(warmup.expected))), ("reason", .string(warmup.reason)),
                ("waiting_messages", .number(JSONNumber(waiting))),
            ]))
    }

    /// How many candidates a trace the daemon shows names (it counts them all): a selection
    /// over 100,000 online agents must not put 100,000 ids in every trace.
    static let traceCandidates = 50

    /// Traces already replayed: a console page polls the same recent decisions every second,
    /// and each is explained once.
    static let traces = TraceCache()

    /// A decision as `/decisions` shows it: with its trace when `trace`; `traced` says whether
    /// one can be had (`traceable`: the daemon shows traces; the message was kept whole).
    static func describe(_ record: RoutingRecord, trace: Bool = true, traceable: Bool = true) -> JSONValue {
        var object = JSONObject([
            ("id", .string(String(record.seed))),
            ("at", .string(timestamp(record.at))), ("rule_set", .string(record.ruleSet.hash)),
            ("route", record.decision?.route.map(JSONValue.string) ?? .null),
            ("outcome", .string(DecisionObserver.labels(record).outcome)),
        ])
        if record.isTrimmed {
            object["message_id"] = record.messageID.map(JSONValue.string) ?? .null
            object["explanation"] = .string(
                "(a \(record.bodySize)-byte message: kept without its body and trace, over the \(DecisionObserver.maximumRecordedBodySize)-byte limit)"
            )
        }
        object["traced"] = .bool(traceable && record.message != nil && record.snapshot != nil)
        if let message = record.message {
            object["message_id"] = message.body[MessageKey.messageID] ?? .null
            if trace, let snapshot = record.snapshot {
                let key = TraceCache.Key(
                    seed: record.seed, ruleSet: record.ruleSet.hash, message: message.body.contentHash,
                    registry: snapshot.version)
                let (text, json) = Self.traces.trace(of: key) {
                    // Replaying with the recorded seed reproduces the decision and its trace.
                    var random = FastRandom(seed: record.seed)
                    let explanation = record.ruleSet.explain(
                        message, in: snapshot, random: &random, now: record.at, maximumCandidates: Self.traceCandidates)
                    return (
                        explanation.render(),
                        explanation.json(ruleSet: record.ruleSet, snapshot: snapshot, message: message)
                    )
                }
                object["explanation"] = .string(text)
                object["trace"] = json
            }
        }
        return .object(object)
    }
}

extension AdminJSON {
    /// `/shadow`: the shadow rules in force, the comparisons by (live route, shadow route, same),
    /// and the last divergent decisions with both traces (when traces are shown).
    static func shadowReport(_ shadow: ShadowRules?, traces: Bool, limit: Int) -> JSONValue {
        guard let shadow else {
            return .object(
                JSONObject([("enabled", .bool(false)), ("hint", .string("start with --shadow-rules PATH"))]))
        }
        let status = shadow.reloader.status
        let counts = shadow.counts.map { entry in
            JSONValue.object(
                JSONObject([
                    ("live_route", .string(entry.liveRoute)), ("shadow_route", .string(entry.shadowRoute)),
                    ("same", .bool(entry.same)), ("count", .number(JSONNumber(entry.count))),
                ]))
        }
        let divergences = shadow.recentDivergences(limit: limit).map { divergence -> JSONValue in
            let record = divergence.record
            var object = JSONObject([
                ("at", .string(timestamp(record.at))),
                ("message_id", record.message?.body[MessageKey.messageID] ?? .null),
                ("live_route", record.decision?.route.map(JSONValue.string) ?? .null),
                ("fields", .array(divergence.fields.map { .string($0.rawValue) })),
            ])
            if traces, let message = record.message, let snapshot = record.snapshot {
                var live = FastRandom(seed: record.seed)
                var candidate = FastRandom(seed: record.seed)
                let liveTrace = record.ruleSet.explain(
                    message, in: snapshot, random: &live, now: record.at, maximumCandidates: Self.traceCandidates)
                let shadowTrace = divergence.shadow.explain(
                    message, in: snapshot, random: &candidate, now: record.at, maximumCandidates: Self.traceCandidates)
                object["shadow_route"] = shadowTrace.decision.route.map(JSONValue.string) ?? .null
                object["live"] = .string(liveTrace.render())
                object["shadow"] = .string(shadowTrace.render())
            }
            return .object(object)
        }
        return .object(
            JSONObject([
                ("enabled", .bool(true)), ("hash", .string(status.hash)),
                ("files", .array(status.files.map(JSONValue.string))),
                ("last_error", status.lastErrorJSON),
                ("decisions", .array(counts)), ("divergences", .array(divergences)),
            ]))
    }
}

/// Rendered traces by what decided them, at most ``capacity`` (all are dropped when it is
/// full: the recent decisions are explained again on demand).
final class TraceCache: Sendable {
    /// A decision: its seed (unique per decision of one router, but not across the daemons of
    /// one test process), the rules, the message and the registry snapshot it was decided with.
    struct Key: Hashable {
        var seed: UInt64
        var ruleSet: String
        var message: UInt64
        var registry: UInt64
    }

    static let capacity = 4_096
    private let entries = Mutex<[Key: (String, JSONValue)]>([:])

    func trace(of key: Key, _ make: () -> (String, JSONValue)) -> (String, JSONValue) {
        if let cached = entries.withLock({ $0[key] }) { return cached }
        let made = make()
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = made
        }
        return made
    }
}
