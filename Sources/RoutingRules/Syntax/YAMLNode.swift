/// A YAML node with its source location: the input of the rule parser.
///
/// Scalars are typed with the YAML 1.2 core schema (so `NO` and `on` stay strings, unlike
/// YAML 1.1): quoted scalars are always strings.
struct YAMLNode: Sendable {
    enum Kind: Sendable {
        case scalar(YAMLScalar)
        case mapping([(key: YAMLNode, value: YAMLNode)])
        case sequence([YAMLNode])
    }

    var kind: Kind
    var location: SourceLocation

    var scalar: YAMLScalar? {
        if case .scalar(let s) = kind { return s }
        return nil
    }

    /// The string of a scalar of any type (what was written).
    var text: String? { scalar?.text }

    /// "a mapping", "a sequence", "a string", … for error messages.
    var kindDescription: String {
        switch kind {
        case .mapping: "a mapping"
        case .sequence: "a sequence"
        case .scalar(let s): s.typeDescription
        }
    }
}

/// A scalar's text and its resolved type.
struct YAMLScalar: Sendable, Hashable {
    enum Resolved: Sendable, Hashable {
        case null
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string
    }

    var text: String
    var resolved: Resolved

    init(text: String, quoted: Bool) {
        self.text = text
        self.resolved = quoted ? .string : Self.resolve(text)
    }

    var typeDescription: String {
        switch resolved {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .float: "a number"
        case .string: "a string"
        }
    }

    var number: Double? {
        switch resolved {
        case .int(let i): Double(i)
        case .float(let d): d
        default: nil
        }
    }

    static func resolve(_ text: String) -> Resolved {
        // Most scalars are names: only these first characters can start a null, a boolean or a
        // number.
        guard let first = text.utf8.first else { return .null }
        switch first {
        case UInt8(ascii: "~"), UInt8(ascii: "n"), UInt8(ascii: "N"), UInt8(ascii: "t"), UInt8(ascii: "T"),
            UInt8(ascii: "f"), UInt8(ascii: "F"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "-"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return resolveCandidate(text)
        default:
            return .string
        }
    }

    private static func resolveCandidate(_ text: String) -> Resolved {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf": return .float(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
        default: break
        }
        if let int = Int(text) { return .int(int) }
        if text.hasPrefix("0x"), let int = Int(text.dropFirst(2), radix: 16) { return .int(int) }
        if text.hasPrefix("0o"), let int = Int(text.dropFirst(2), radix: 8) { return .int(int) }
        if let first = text.unicodeScalars.first, "+-.0123456789".unicodeScalars.contains(first),
            text.unicodeScalars.allSatisfy({ "+-.0123456789eE".unicodeScalars.contains($0) }),
            let double = Double(text)
        {
            return .float(double)
        }
        return .string
    }
}
