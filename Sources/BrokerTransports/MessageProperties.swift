/// What a producer put on a message besides its body: the AMQP 0-9-1 basic properties and the
/// application header table, with their types. The router carries them through unchanged and
/// adds its own bookkeeping to `headers` under `x-broker-` names; transports without some of
/// these (the in-memory queues) keep them as they are.
///
/// `nil` is "not set", which is not the same as an empty string: a copy of a message with no
/// `correlation_id` has none either.
public struct MessageProperties: Sendable, Hashable {
    public var contentType: String?
    public var contentEncoding: String?
    /// The application headers.
    public var headers: FieldTable
    /// 1: transient, 2: persistent. A transport publishes a message without one as persistent.
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    /// The per-message TTL in milliseconds, as text (AMQP carries it as a string).
    public var expiration: String?
    public var messageID: String?
    /// Seconds since 1970 (AMQP's 64-bit timestamp).
    public var timestamp: UInt64?
    public var type: String?
    /// The user that published the message. RabbitMQ checks it against the publishing
    /// connection's user, so a transport may carry another user's in a header instead (see the
    /// transport's documentation).
    public var userID: String?
    public var appID: String?
    /// AMQP's deprecated `cluster-id`.
    public var clusterID: String?

    public init(
        contentType: String? = nil, contentEncoding: String? = nil, headers: FieldTable = [:],
        deliveryMode: UInt8? = nil, priority: UInt8? = nil, correlationID: String? = nil, replyTo: String? = nil,
        expiration: String? = nil, messageID: String? = nil, timestamp: UInt64? = nil, type: String? = nil,
        userID: String? = nil, appID: String? = nil, clusterID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
        self.clusterID = clusterID
    }

    /// Calls `body` with each short-string property that is set, by its AMQP name (`headers`,
    /// `delivery_mode`, `priority` and `timestamp` are not strings). Allocates nothing.
    public func forEachShortString(_ body: (_ name: String, _ value: String) throws -> Void) rethrows {
        if let contentType { try body("content_type", contentType) }
        if let contentEncoding { try body("content_encoding", contentEncoding) }
        if let correlationID { try body("correlation_id", correlationID) }
        if let replyTo { try body("reply_to", replyTo) }
        if let expiration { try body("expiration", expiration) }
        if let messageID { try body("message_id", messageID) }
        if let type { try body("type", type) }
        if let userID { try body("user_id", userID) }
        if let appID { try body("app_id", appID) }
        if let clusterID { try body("cluster_id", clusterID) }
    }
}

/// An AMQP field table: named values in the order they were written. Names may repeat on the
/// wire; the subscript reads the first and replaces all of them.
public struct FieldTable: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    public struct Entry: Sendable, Hashable {
        public var name: String
        public var value: FieldValue

        public init(name: String, value: FieldValue) {
            self.name = name
            self.value = value
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    public init(dictionaryLiteral elements: (String, FieldValue)...) {
        entries = elements.map { Entry(name: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }
    public var names: [String] { entries.map(\.name) }

    /// The value named `name`; setting replaces every entry of that name in place (or appends),
    /// `nil` removes them.
    public subscript(name: String) -> FieldValue? {
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

/// One value in a field table or array, with its AMQP 0-9-1 type (RabbitMQ's names).
public indirect enum FieldValue: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
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
    case array([FieldValue])
    case table(FieldTable)
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
