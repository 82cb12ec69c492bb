/// A message's application headers: named, typed values in the order they were written. The
/// types are AMQP's field-value types, the richest header model of the message systems the
/// broker speaks (a transport with text-only headers writes their text). Names may repeat on
/// the wire; the subscript reads the first and replaces all of them.
public struct Headers: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    public struct Entry: Sendable, Hashable {
        public var name: String
        public var value: HeaderValue

        public init(name: String, value: HeaderValue) {
            self.name = name
            self.value = value
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    public init(dictionaryLiteral elements: (String, HeaderValue)...) {
        entries = elements.map { Entry(name: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }
    public var names: [String] { entries.map(\.name) }

    /// The value named `name`; setting replaces every entry of that name in place (or appends),
    /// `nil` removes them.
    public subscript(name: String) -> HeaderValue? {
        get { entries.first { $0.name == name }?.value }
        set {
            guard let newValue else {
                // Only a table that has the name is written to (a copy of a shared one costs).
                if entries.contains(where: { $0.name == name }) { entries.removeAll { $0.name == name } }
                return
            }
            var replaced = false
            entries = entries.compactMap { entry in
                guard entry.name == name else { return entry }
                defer { replaced = true }
                return replaced ? nil : Entry(name: name, value: newValue)
            }
            if !replaced { entries.append(Entry(name: name, value: newValue)) }
        }
    }

    /// Removes the entries `shouldRemove` picks.
    public mutating func removeAll(where shouldRemove: (Entry) -> Bool) { entries.removeAll(where: shouldRemove) }
}

/// One header value, or one value in a header's array or table, with its type (AMQP 0-9-1's
/// field-value types, by RabbitMQ's names).
public indirect enum HeaderValue: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, CustomStringConvertible
{
    case boolean(Bool)
    case int8(Int8)
    case uint8(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    /// rabbitmq-c's 64-bit unsigned type (RabbitMQ itself does not write it).
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    /// `value` × 10^-`scale`.
    case decimal(scale: UInt8, value: UInt32)
    /// A long string: bytes, usually UTF-8 text, that may hold anything (NUL bytes included).
    case longString([UInt8])
    /// A byte array.
    case bytes([UInt8])
    /// Seconds since 1970.
    case timestamp(UInt64)
    case array([HeaderValue])
    case table(Headers)
    /// No value.
    case void

    /// A long string of `text`'s UTF-8.
    public init(_ text: String) { self = .longString(Array(text.utf8)) }

    public init(stringLiteral value: String) { self.init(value) }

    public init(integerLiteral value: Int32) { self = .int32(value) }

    public init(booleanLiteral value: Bool) { self = .boolean(value) }

    /// The value as text: a string's UTF-8, an integer's or boolean's decimal form; `nil` for
    /// the other types.
    public var text: String? {
        switch self {
        case .longString(let bytes), .bytes(let bytes): String(decoding: bytes, as: UTF8.self)
        case .boolean(let value): value ? "true" : "false"
        case .int8(let value): String(value)
        case .uint8(let value): String(value)
        case .int16(let value): String(value)
        case .uint16(let value): String(value)
        case .int32(let value): String(value)
        case .uint32(let value): String(value)
        case .int64(let value): String(value)
        case .uint64(let value): String(value)
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .longString(let bytes): "\"\(String(decoding: bytes, as: UTF8.self))\""
        case .bytes(let bytes): "bytes(\(bytes.count))"
        case .float(let value): "float(\(value))"
        case .double(let value): "double(\(value))"
        case .decimal(let scale, let value): "decimal(\(value)e-\(scale))"
        case .timestamp(let value): "timestamp(\(value))"
        case .array(let values): "\(values)"
        case .table(let table): "\(table.entries.map { "\($0.name): \($0.value)" })"
        case .void: "void"
        default: text ?? "?"
        }
    }
}
