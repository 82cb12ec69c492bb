import BrokerCore
import Foundation

/// What changing the rules from one set to another does to recorded traffic
/// (`broker diff-rules`): each message is decided by both sets against the same registry, with
/// the same random seed and the same clock, so only the rules' differences show.
///
/// Decisions are compared on four fields: the route that decided, the action (deliver,
/// broadcast, dead-letter, drop, status update), the receivers (the agents delivered to), the
/// outputs (where copies go), and the `routing_status` of the copies. Changed decisions are
/// grouped by (old route → new route, fields that changed), with a few examples per group.
public struct RuleDiff: Sendable {
    /// A compared field.
    public enum Field: String, Sendable, Hashable, CaseIterable, Comparable {
        case route
        case action
        case receiver
        case output
        case routingStatus = "routing_status"

        public static func < (a: Field, b: Field) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// What groups changed decisions.
    public struct Change: Sendable, Hashable {
        /// `nil`: no route matched (`on_no_route` decided).
        public var oldRoute: String?
        public var newRoute: String?
        public var fields: [Field]
    }

    /// One decision on one message, as compared.
    public struct Summary: Sendable, Hashable {
        public var route: String?
        public var action: String
        public var receivers: [String]
        public var outputs: [String]
        public var routingStatus: [String]

        public init(_ decision: Decision) {
            route = decision.route
            switch decision.outcome {
            case .deliver: action = "deliver"
            case .broadcast: action = "broadcast"
            case .deadLetter: action = "dead_letter"
            case .drop: action = "drop"
            case .statusUpdate: action = "status_update"
            }
            let deliveries = decision.deliveries
            receivers = deliveries.compactMap(\.agentID)
            outputs = deliveries.map(\.destination.description)
            if case .deadLetter(_, let queue) = decision.outcome { outputs = [queue] }
            routingStatus = deliveries.map { $0.message[string: "routing_status"] ?? "-" }
        }

        /// Whether `a` and `b` agree on every compared field, found without building summaries.
        public static func agree(_ a: Decision, _ b: Decision) -> Bool {
            guard a.route == b.route else { return false }
            switch (a.outcome, b.outcome) {
            case (.deliver(let x), .deliver(let y)): return same(x, y)
            case (.broadcast(let xs), .broadcast(let ys)):
                return xs.count == ys.count && zip(xs, ys).allSatisfy { same($0, $1) }
            case (.deadLetter(_, let x), .deadLetter(_, let y)): return x == y
            case (.drop, .drop), (.statusUpdate, .statusUpdate): return true
            default: return false
            }
        }

        private static func same(_ x: Delivery, _ y: Delivery) -> Bool {
            x.agentID == y.agentID && x.destination == y.destination
                && x.message[string: "routing_status"] == y.message[string: "routing_status"]
        }

        /// The fields in which this decision differs from `other`.
        public func differences(from other: Summary) -> [Field] {
            var fields: [Field] = []
            if route != other.route { fields.append(.route) }
            if action != other.action { fields.append(.action) }
            if receivers != other.receivers { fields.append(.receiver) }
            if outputs != other.outputs { fields.append(.output) }
            // Only between decisions that both publish: otherwise the action and output say it.
            if !routingStatus.isEmpty, !other.routingStatus.isEmpty, routingStatus != other.routingStatus {
                fields.append(.routingStatus)
            }
            return fields
        }
    }

    /// A changed message, to show.
    public struct Example: Sendable {
        /// Its line in the recorded file (1-based).
        public var line: Int
        public var message: Message
        public var old: Summary
        public var new: Summary
    }

    /// The changed messages of one kind.
    public struct Group: Sendable {
        public var change: Change
        public var count: Int
        public var examples: [Example]
    }

    /// How many examples each group keeps.
    public var examplesPerGroup = 3
    /// Messages decided by both sets.
    public private(set) var compared = 0
    /// Messages decided differently.
    public private(set) var changed = 0
    /// Lines that held no message to decide (not JSON, no message recorded), by reason.
    public private(set) var skipped: [String: Int] = [:]
    /// Changed decisions by field (a message counts once under each field that changed).
    public private(set) var changedByField: [Field: Int] = [:]
    private var groupIndex: [Change: Int] = [:]
    private var groupList: [Group] = []

    /// The clock of records that carry no time (both sets read the same one).
    public var now = Date()

    public init() {}

    /// The groups, largest first (ties in the order first seen).
    public var groups: [Group] {
        groupList.enumerated().sorted { ($1.element.count, $0.offset) < ($0.element.count, $1.offset) }.map(\.element)
    }

    /// Percentage of compared messages decided differently.
    public var changedPercent: Double { compared == 0 ? 0 : Double(changed) * 100 / Double(compared) }

    /// Adds what `other` counted (lines after this one's): totals add up, groups keep their
    /// first-seen order and their earliest examples.
    public mutating func merge(_ other: RuleDiff) {
        compared += other.compared
        changed += other.changed
        for (reason, count) in other.skipped { skipped[reason, default: 0] += count }
        for (field, count) in other.changedByField { changedByField[field, default: 0] += count }
        for group in other.groupList {
            if let index = groupIndex[group.change] {
                groupList[index].count += group.count
                let room = max(0, examplesPerGroup - groupList[index].examples.count)
                groupList[index].examples += group.examples.prefix(room)
            } else {
                groupIndex[group.change] = groupList.count
                groupList.append(group)
            }
        }
    }

    /// Counts a line that held nothing to decide.
    public mutating func skip(because reason: String) { skipped[reason, default: 0] += 1 }

    /// Decides `record` with both sets, in `registry` when given (else in a registry of the
    /// agents the record names), and counts the difference.
    public mutating func compare(
        _ record: DecisionRecord, line: Int, old: RuleSet, new: RuleSet, registry: AgentRegistry.Snapshot?
    ) {
        guard let message = record.message else {
            skip(because: "no message recorded")
            return
        }
        let snapshot = registry ?? AgentRegistry.Snapshot(agents: record.agents)
        let now = record.at ?? now
        var oldRandom = FastRandom(seed: record.seed)
        var newRandom = FastRandom(seed: record.seed)
        let before = Summary(old.evaluate(message, in: snapshot, random: &oldRandom, now: now))
        let after = Summary(new.evaluate(message, in: snapshot, random: &newRandom, now: now))
        compared += 1
        let fields = after.differences(from: before)
        guard !fields.isEmpty else { return }
        changed += 1
        for field in fields { changedByField[field, default: 0] += 1 }
        let change = Change(oldRoute: before.route, newRoute: after.route, fields: fields)
        let example = Example(line: line, message: message, old: before, new: after)
        if let index = groupIndex[change] {
            groupList[index].count += 1
            if groupList[index].examples.count < examplesPerGroup { groupList[index].examples.append(example) }
        } else {
            groupIndex[change] = groupList.count
            groupList.append(Group(change: change, count: 1, examples: [example]))
        }
    }
}
