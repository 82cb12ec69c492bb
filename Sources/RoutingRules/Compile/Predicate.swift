import BrokerCore
import Foundation

/// An equality key: how a scalar compares for `eq`/`in` and in the route index.
///
/// A literal written in YAML yields every key it should match: `3` matches the JSON number 3
/// (or 3.0) and the string "3"; `true` matches the boolean and the string "true"; `ERROR`
/// matches only the string.
enum ScalarKey: Hashable, Sendable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    static func keys(of scalar: YAMLScalar) -> [ScalarKey] {
        switch scalar.resolved {
        case .string: [.string(scalar.text)]
        case .int(let i): [.string(scalar.text), .number(Double(i))]
        case .float(let d): [.string(scalar.text), .number(d)]
        case .bool(let b): [.bool(b), .string(scalar.text)]
        case .null: [.null]
        }
    }

    init?(_ value: JSONValue) {
        switch value {
        case .string(let s): self = .string(s)
        case .number(let n):
            guard let d = n.doubleValue else { return nil }
            self = .number(d)
        case .bool(let b): self = .bool(b)
        case .null: self = .null
        case .array, .object: return nil
        }
    }
}

/// A compiled condition. Evaluation is a walk over this tree with no allocation.
indirect enum Predicate: Sendable {
    case always
    case all([Predicate])
    case any([Predicate])
    case not(Predicate)
    case test(Check)

    /// The conjuncts at the top of this predicate.
    var conjuncts: [Predicate] {
        switch self {
        case .always: []
        case .all(let items): items.flatMap(\.conjuncts)
        default: [self]
        }
    }
}

/// One test of one subject: a leaf of the predicate tree (a class, so evaluation passes a
/// reference instead of copying its parts).
final class Check: Sendable {
    let subject: Subject
    let test: Test
    let description: String

    init(_ subject: Subject, _ test: Test, description: String) {
        self.subject = subject
        self.test = test
        self.description = description
    }
}

/// The literals an `eq`/`in` test accepts, matched without hashing for short lists.
final class ScalarMatcher: Sendable {
    /// Every key, for the route index.
    let keys: Set<ScalarKey>
    private let strings: [String]
    private let numbers: [Double]
    private let acceptsTrue: Bool
    private let acceptsFalse: Bool
    private let acceptsNull: Bool
    private let hashed: Bool

    init(_ keys: Set<ScalarKey>) {
        self.keys = keys
        var strings: [String] = []
        var numbers: [Double] = []
        for key in keys {
            switch key {
            case .string(let s): strings.append(s)
            case .number(let d): numbers.append(d)
            default: break
            }
        }
        self.strings = strings.sorted()
        self.numbers = numbers.sorted()
        acceptsTrue = keys.contains(.bool(true))
        acceptsFalse = keys.contains(.bool(false))
        acceptsNull = keys.contains(.null)
        hashed = keys.count > 8
    }

    func matches(string: String) -> Bool {
        if hashed { return keys.contains(.string(string)) }
        for candidate in strings where candidate == string { return true }
        return false
    }

    func matches(_ value: SubjectValue) -> Bool {
        switch value {
        case .json(.string(let s)), .string(let s): return matches(string: s)
        case .metric(let m): return matches(string: m.value)
        case .timestamp(let raw, _): return matches(string: raw)
        case .bool(let b), .json(.bool(let b)): return b ? acceptsTrue : acceptsFalse
        case .json(.null): return acceptsNull
        case .json(.number(let n)):
            guard let d = n.doubleValue else { return false }
            return numbers.contains(d)
        case .number(let d): return numbers.contains(d)
        case .json(.array), .json(.object): return false
        }
    }
}

/// One operator with its compiled operand.
enum Test: Sendable {
    case equals(ScalarMatcher)
    case notEquals(ScalarMatcher)
    case exists(Bool)
    case prefix(String)
    case suffix(String)
    case contains(ScalarKey)
    case matches(LinearRegex)
    case less(Double, orEqual: Bool)
    case greater(Double, orEqual: Bool)
    case within(TimeInterval)
    case sameAs(Subject)
}

/// The value a subject yields for one evaluation.
enum SubjectValue {
    case json(JSONValue)
    case bool(Bool)
    case string(String)
    case number(Double)
    case metric(AgentMetrics.Entry)
    case timestamp(raw: String, parsed: Date?)

    var key: ScalarKey? {
        switch self {
        case .json(let v): ScalarKey(v)
        case .bool(let b): .bool(b)
        case .string(let s): .string(s)
        case .number(let d): .number(d)
        case .metric(let m): .string(m.value)
        case .timestamp(let raw, _): .string(raw)
        }
    }

    var string: String? {
        switch self {
        case .json(.string(let s)), .string(let s): s
        case .metric(let m): m.value
        case .timestamp(let raw, _): raw
        default: nil
        }
    }

    var number: Double? {
        switch self {
        case .json(let v): v.numericValue
        case .number(let d): d
        case .metric(let m): m.number
        case .string(let s): Double(s)
        case .timestamp(_, let parsed): parsed?.timeIntervalSince1970
        case .bool: nil
        }
    }

    func date(now: Date) -> Date? {
        switch self {
        case .timestamp(_, let parsed): parsed
        case .json(.string(let s)), .string(let s): Timestamp.parse(s, relativeTo: now)
        case .json(.number(let n)): n.doubleValue.map { Date(timeIntervalSince1970: $0) }
        default: nil
        }
    }

    var templateText: String {
        switch self {
        case .json(let v): v.templateText
        case .bool(let b): b ? "true" : "false"
        case .string(let s): s
        case .number(let d): JSONNumber(d).literal
        case .metric(let m): m.value
        case .timestamp(let raw, _): raw
        }
    }
}

/// Everything a predicate can read for one message.
struct EvaluationContext {
    let message: JSONObject
    let snapshot: AgentRegistry.Snapshot
    private let fixedNow: Date?
    var candidate: Int32? = nil
    var routeName: String = ""

    /// The instant `within` compares against (read from the clock only when asked).
    var now: Date { fixedNow ?? Date() }

    init(message: JSONObject, snapshot: AgentRegistry.Snapshot, now: Date?) {
        self.message = message
        self.snapshot = snapshot
        self.fixedNow = now
    }

    /// The registry slot of the agent named by `sender_id` (looked up only when a rule asks).
    var senderSlot: Int32? { message[MessageKey.senderID]?.stringValue.flatMap(snapshot.slot(of:)) }

    /// The registry slot of the agent named by `receiver_id` (looked up only when a rule asks).
    var receiverSlot: Int32? { message[MessageKey.receiverID]?.stringValue.flatMap(snapshot.slot(of:)) }

    func value(of subject: Subject) -> SubjectValue? {
        switch subject {
        case .message(let path):
            return message.value(at: path).map(SubjectValue.json)
        case .sender(let field): return agentValue(field, slot: senderSlot)
        case .receiver(let field): return agentValue(field, slot: receiverSlot)
        case .agent(let field): return agentValue(field, slot: candidate)
        case .registry(.onlineCount): return .number(Double(snapshot.online.count))
        case .registry(.agentCount): return .number(Double(snapshot.count))
        case .registry(.synced): return .bool(snapshot.sync.isSynced)
        case .registry(.stale): return .bool(!snapshot.sync.isSynced)
        case .registry(.staleness):
            let seconds = snapshot.sync.staleness(now: now)
            return .number(seconds.isFinite ? seconds : Double(Int32.max))
        case .routeName: return .string(routeName)
        }
    }

    private func agentValue(_ field: AgentField, slot: Int32?) -> SubjectValue? {
        if case .known = field { return .bool(slot != nil) }
        guard let slot else { return field == .online ? .bool(false) : nil }
        switch field {
        case .known: return .bool(true)
        case .online: return .bool(snapshot.isOnline(at: slot))
        case .agentID: return .string(snapshot.agentID(at: slot))
        case .agentName: return .string(snapshot.agent(at: slot).name)
        case .lastSeen:
            let agent = snapshot.agent(at: slot)
            return .timestamp(raw: agent.lastSeenRaw, parsed: agent.lastSeen)
        case .metric(let key): return snapshot.metric(key, at: slot).map(SubjectValue.metric)
        }
    }

    func holds(_ predicate: Predicate) -> Bool {
        switch predicate {
        case .always: return true
        case .all(let items):
            for item in items where !holds(item) { return false }
            return true
        case .any(let items):
            for item in items where holds(item) { return true }
            return false
        case .not(let inner): return !holds(inner)
        case .test(let check): return passes(check.test, value(of: check.subject))
        }
    }

    /// The description of the first test that makes `predicate` false, for explanations.
    func firstFailure(_ predicate: Predicate) -> String? {
        switch predicate {
        case .always: return nil
        case .all(let items):
            for item in items { if let failure = firstFailure(item) { return failure } }
            return nil
        case .any(let items):
            if holds(predicate) { return nil }
            return "none of: " + items.compactMap(firstFailure).joined(separator: "; ")
        case .not(let inner): return holds(inner) ? "not (\(Self.describe(inner)))" : nil
        case .test(let check):
            let value = value(of: check.subject)
            if passes(check.test, value) { return nil }
            let actual: String
            switch value {
            case nil: actual = "is absent"
            case .bool(let b)?, .json(.bool(let b))?: actual = "is \(b)"
            case let value?: actual = "is \(value.templateText.debugDescription)"
            }
            return "\(check.description) (\(check.subject) \(actual))"
        }
    }

    static func describe(_ predicate: Predicate) -> String {
        switch predicate {
        case .always: "always"
        case .all(let items): items.map(describe).joined(separator: " and ")
        case .any(let items): "any of (" + items.map(describe).joined(separator: "; ") + ")"
        case .not(let inner): "not (\(describe(inner)))"
        case .test(let check): check.description
        }
    }

    func passes(_ test: Test, _ value: SubjectValue?) -> Bool {
        switch test {
        case .exists(let expected):
            let present: Bool
            if case .json(.null)? = value { present = false } else { present = value != nil }
            return present == expected
        case .notEquals(let matcher):
            guard let value else { return true }
            return !matcher.matches(value)
        default: break
        }
        guard let value else { return false }
        switch test {
        case .equals(let matcher): return matcher.matches(value)
        case .prefix(let p): return value.string?.hasPrefix(p) ?? false
        case .suffix(let s): return value.string?.hasSuffix(s) ?? false
        case .contains(let key):
            if case .json(.array(let items)) = value { return items.contains { ScalarKey($0) == key } }
            guard case .string(let needle) = key, let haystack = value.string else { return false }
            return haystack.contains(needle)
        case .matches(let regex): return value.string.map(regex.matches) ?? false
        case .less(let bound, let orEqual):
            guard let n = value.number else { return false }
            return orEqual ? n <= bound : n < bound
        case .greater(let bound, let orEqual):
            guard let n = value.number else { return false }
            return orEqual ? n >= bound : n > bound
        case .within(let seconds):
            guard let date = value.date(now: now) else { return false }
            return abs(now.timeIntervalSince(date)) <= seconds
        case .sameAs(let other):
            guard let a = value.key, let b = self.value(of: other)?.key else { return false }
            return a == b
        case .exists, .notEquals: return false
        }
    }
}
