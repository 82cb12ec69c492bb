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
///
/// The commonest tests have dedicated leaves that read what they test directly (no
/// ``SubjectValue`` is built); every other test is a general ``Check``.
enum Predicate: Sendable {
    case always
    case all([Predicate])
    case any([Predicate])
    indirect case not(Predicate)
    case test(Check)
    /// `eq`, `in`, `ne` or `not_in` on one message field.
    case field(FieldTest)
    /// `known` or `online` of the sender or receiver compared with one boolean.
    case agentState(AgentStateTest, Check)

    /// The leaf for `check`: a dedicated one when its shape has one.
    static func leaf(_ check: Check) -> Predicate {
        switch (check.subject, check.test) {
        case (.message(let path), .equals(let matcher)):
            return .field(FieldTest(path: path, matcher: matcher, negated: false, check: check))
        case (.message(let path), .notEquals(let matcher)):
            return .field(FieldTest(path: path, matcher: matcher, negated: true, check: check))
        case (.sender(let field), .equals(let matcher)), (.receiver(let field), .equals(let matcher)):
            guard field == .known || field == .online, let expected = matcher.onlyBool else { return .test(check) }
            let role: AgentStateTest.Role = if case .sender = check.subject { .sender } else { .receiver }
            return .agentState(AgentStateTest(role: role, online: field == .online, expected: expected), check)
        default:
            return .test(check)
        }
    }

    /// The test, when this predicate is a leaf.
    var check: Check? {
        switch self {
        case .test(let check), .agentState(_, let check): check
        case .field(let test): test.check
        default: nil
        }
    }

    /// The conjuncts at the top of this predicate.
    var conjuncts: [Predicate] {
        var result: [Predicate] = []
        forEachConjunct { result.append($0) }
        return result
    }

    /// Calls `body` with each conjunct at the top of this predicate, allocating nothing.
    func forEachConjunct(_ body: (Predicate) -> Void) {
        switch self {
        case .always: break
        case .all(let items): for item in items { item.forEachConjunct(body) }
        default: body(self)
        }
    }
}

/// One test of one subject: a leaf of the predicate tree (a class, so evaluation passes a
/// reference instead of copying its parts).
final class Check: Sendable {
    let subject: Subject
    let test: Test
    /// The operator and operand as written, for ``description``.
    private let written: (op: Operator, operand: LiteralSyntax)

    init(_ subject: Subject, _ test: Test, written: TestSyntax) {
        self.subject = subject
        self.test = test
        self.written = (written.op, written.value)
    }

    /// The test as text (`message.message_type == "TEXT"`), for explanations; made only when
    /// asked, so compiling does not pay for it.
    var description: String { ConditionText.of(subject, written.op, written.operand) }
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
        strings.sort()
        numbers.sort()
        self.strings = strings
        self.numbers = numbers
        acceptsTrue = keys.contains(.bool(true))
        acceptsFalse = keys.contains(.bool(false))
        acceptsNull = keys.contains(.null)
        hashed = keys.count > 8
    }

    /// The one boolean accepted, when the literals are exactly `true` or exactly `false`.
    var onlyBool: Bool? {
        guard strings.count <= 1, numbers.isEmpty, !acceptsNull, acceptsTrue != acceptsFalse else { return nil }
        // `true` also accepts the string "true" (and `True` the string "True").
        if let text = strings.first, text.lowercased() != (acceptsTrue ? "true" : "false") { return nil }
        return acceptsTrue
    }

    /// Whether a JSON value is one of the literals: ``matches(_:)`` for a message field.
    func matches(json value: JSONValue) -> Bool {
        switch value {
        case .string(let s): return matches(string: s)
        case .bool(let b): return b ? acceptsTrue : acceptsFalse
        case .null: return acceptsNull
        case .number(let n):
            guard let d = n.doubleValue else { return false }
            return numbers.contains(d)
        case .array, .object: return false
        }
    }

    func matches(string: String) -> Bool {
        if hashed { return keys.contains(.string(string)) }
        for candidate in strings where candidate == string { return true }
        return false
    }

    func matches(_ value: SubjectValue) -> Bool {
        switch value {
        case .json(let json): return matches(json: json)
        case .string(let s): return matches(string: s)
        case .metric(let m): return matches(string: m.value)
        case .timestamp(let raw, _): return matches(string: raw)
        case .bool(let b): return b ? acceptsTrue : acceptsFalse
        case .number(let d): return numbers.contains(d)
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
    /// An element of a list equal to the key, or (when the key is text) the text inside a text.
    case contains(ScalarKey, TextSearch?)
    case matches(LinearRegex)
    case less(Double, orEqual: Bool)
    case greater(Double, orEqual: Bool)
    case within(TimeInterval)
    case sameAs(Subject)
}

/// `message.<path>` tested with `eq`/`in` (or, negated, `ne`/`not_in`): the value is read
/// straight from the message.
final class FieldTest: Sendable {
    let path: [String]
    let matcher: ScalarMatcher
    /// `ne`/`not_in`: true when the field is absent or matches none of the literals.
    let negated: Bool
    /// The general form, for explanations and the route index.
    let check: Check

    init(path: [String], matcher: ScalarMatcher, negated: Bool, check: Check) {
        self.path = path
        self.matcher = matcher
        self.negated = negated
        self.check = check
    }

    func holds(_ message: JSONObject) -> Bool {
        guard let value = message.value(at: path) else { return negated }
        return matcher.matches(json: value) != negated
    }
}

/// `sender.known`, `receiver.online`, … compared with `true` or `false` (a plain value: the
/// leaf holds no reference).
struct AgentStateTest: Sendable {
    enum Role: Sendable {
        case sender
        case receiver
    }

    let role: Role
    /// `online` (else `known`).
    let online: Bool
    let expected: Bool
}
