import BrokerCore
import Foundation

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
    /// Set once a selection ran: the decision then depends on who is online.
    var choseAmongAgents = false
    /// When a trial of untrusted rules gives up; `nil` on the routing path.
    var deadline: EvaluationDeadline? = nil

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
        case .registry(.warming): return .bool(snapshot.sync.isWarming)
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
        case .field(let test): return test.holds(message)
        case .agentState(let test, _): return holds(test)
        }
    }

    func holds(_ test: AgentStateTest) -> Bool {
        // An unknown agent is neither known nor online.
        guard let slot = test.role == .sender ? senderSlot : receiverSlot else { return !test.expected }
        return (test.online ? snapshot.isOnline(at: slot) : true) == test.expected
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
        case .field(let test): return holds(predicate) ? nil : failure(test.check)
        case .agentState(_, let check): return holds(predicate) ? nil : failure(check)
        case .test(let check):
            if passes(check.test, value(of: check.subject)) { return nil }
            return failure(check)
        }
    }

    /// Why `check` is false: the test and the value it saw.
    private func failure(_ check: Check) -> String {
        let actual: String
        switch value(of: check.subject) {
        case nil: actual = "is absent"
        case .bool(let b)?, .json(.bool(let b))?: actual = "is \(b)"
        case let value?: actual = "is \(Self.excerpt(value.templateText).debugDescription)"
        }
        return "\(check.description) (\(check.subject) \(actual))"
    }

    /// At most the first 200 characters of `text`, with how long it is: an explanation names the
    /// value a test saw once per route, and a long message would otherwise be copied into every line.
    static func excerpt(_ text: String) -> String {
        guard text.utf8.count > 200, let cut = text.index(text.startIndex, offsetBy: 200, limitedBy: text.endIndex),
            cut < text.endIndex
        else { return text }
        return "\(text[..<cut])… (\(text.utf8.count) bytes)"
    }

    static func describe(_ predicate: Predicate) -> String {
        switch predicate {
        case .always: "always"
        case .all(let items): items.map(describe).joined(separator: " and ")
        case .any(let items): "any of (" + items.map(describe).joined(separator: "; ") + ")"
        case .not(let inner): "not (\(describe(inner)))"
        case .test(let check), .agentState(_, let check): check.description
        case .field(let test): test.check.description
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
        case .contains(let key, let search):
            if case .json(.array(let items)) = value { return items.contains { ScalarKey($0) == key } }
            guard let search, let haystack = value.string else { return false }
            return search.occurs(in: haystack)
        case .matches(let regex): return value.string.map { regex.matches($0, deadline: deadline) } ?? false
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
