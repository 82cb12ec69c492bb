/// A JSON value that keeps everything a message carries: object keys stay in their original
/// order and numbers keep the exact text they were written with, so a message that passes
/// through the broker comes out meaning exactly what it meant going in.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The string, when this value is a JSON string.
    @inlinable public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The object, when this value is a JSON object.
    @inlinable public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The boolean, when this value is `true` or `false`.
    @inlinable public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The value as a number: JSON numbers, and strings that hold a decimal number
    /// (metrics travel as strings on the wire).
    public var numericValue: Double? {
        switch self {
        case .number(let n): return n.doubleValue
        case .string(let s): return Double(s)
        default: return nil
        }
    }

    /// The name of the JSON type, as used in error messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The text this value contributes to a template: strings without quotes, scalars as
    /// written, arrays and objects as compact JSON.
    public var templateText: String {
        switch self {
        case .string(let s): return s
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n.literal
        case .array, .object: return JSONWriter.string(self)
        }
    }
}

/// A JSON number that remembers the literal it was parsed from, so `1.50` is written back
/// as `1.50` and a 20-digit id keeps every digit.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The number exactly as written in the source JSON.
    public let literal: String

    /// Creates a number from a literal that is already valid JSON number syntax.
    public init(literal: String) { self.literal = literal }

    /// Creates a number from an integer.
    public init(_ value: Int) { self.literal = String(value) }

    /// Creates a number from a floating-point value.
    public init(_ value: Double) {
        if value.rounded() == value, abs(value) < 1e15 {
            self.literal = String(Int64(value))
        } else {
            self.literal = String(value)
        }
    }

    /// The value as a `Double` (always succeeds for valid JSON number syntax).
    public var doubleValue: Double? { Double(literal) }

    public var description: String { literal }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(integerLiteral value: Int) { self = .number(JSONNumber(value)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements))
    }
}
