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

    /// The leaf, when this predicate is a single test.
    var check: Check? {
        if case .test(let check) = self { return check }
        return nil
    }

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
