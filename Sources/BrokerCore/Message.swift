/// A message as it travels through the broker: a JSON object that keeps every key, in order.
///
/// The broker reads a few well-known keys (`message_type`, `sender_id`, `receiver_id`, …) and
/// passes everything else through untouched.
public struct Message: Sendable, Hashable {
    /// The message body.
    public var body: JSONObject

    /// Wraps an already parsed JSON object.
    public init(_ body: JSONObject) { self.body = body }

    /// The largest body accepted by default: 16 MiB, the largest message RabbitMQ (4.0 and
    /// later) accepts by default; with it the broker's worst case fits a 768 MiB memory limit
    /// (see ``MessageCost``).
    public static let defaultMaximumSize = 16 << 20

    /// Decodes a message from its wire bytes.
    ///
    /// Parsing takes at most ``MessageCost/parsedLimit(bodySize:)`` of memory: JSON denser
    /// than that (long arrays of small numbers) is refused as ``MessageDecodingError/tooDense(size:limit:)``.
    ///
    /// - Throws: ``MessageDecodingError`` when the bytes are too large, are not JSON, are JSON
    ///   too dense to parse within the bound, or are JSON but not an object.
    public init(
        decoding bytes: some Collection<UInt8>, maximumSize: Int = Message.defaultMaximumSize
    ) throws(MessageDecodingError) {
        guard bytes.count <= maximumSize else {
            throw .tooLarge(size: bytes.count, limit: maximumSize)
        }
        let value: JSONValue
        let limit = MessageCost.parsedLimit(bodySize: bytes.count)
        do {
            value = try JSONParser.parse(bytes, maximumCost: limit)
        } catch {
            if error.exceedsMemoryLimit { throw .tooDense(size: bytes.count, limit: limit) }
            throw .invalidJSON(error)
        }
        guard case .object(let object) = value else { throw .notAnObject(kind: value.kindName) }
        self.body = object
    }

    /// The message encoded as compact JSON.
    public func encoded() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64 + body.count * 32)
        JSONWriter.write(body, into: &output)
        return output
    }

    /// The message encoded as a compact JSON string.
    public var jsonText: String { String(decoding: encoded(), as: UTF8.self) }

    /// A string-valued top-level field, or `nil` when absent or not a string.
    public subscript(string key: String) -> String? { body[key]?.stringValue }

    /// `message_type`.
    public var messageType: String? { self[string: MessageKey.messageType] }
    /// `message_id`.
    public var messageID: String? { self[string: MessageKey.messageID] }
    /// `sender_id`.
    public var senderID: String? { self[string: MessageKey.senderID] }
    /// `receiver_id`.
    public var receiverID: String? { self[string: MessageKey.receiverID] }
}

/// The well-known keys of the agent server's message JSON.
public enum MessageKey {
    public static let messageID = "message_id"
    public static let messageType = "message_type"
    public static let senderID = "sender_id"
    public static let receiverID = "receiver_id"
    public static let textPayload = "text_payload"
    public static let routingStatus = "routing_status"
}

/// Why bytes taken from a queue are not a message.
public enum MessageDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes are not valid JSON.
    case invalidJSON(JSONParseError)
    /// The JSON is valid but not an object (an array, a string, …).
    case notAnObject(kind: String)
    /// The body exceeds the configured size limit.
    case tooLarge(size: Int, limit: Int)
    /// Parsed, the body would take more than `limit` bytes of memory.
    case tooDense(size: Int, limit: Int)

    /// A short machine-readable reason, used for dead-letter headers and metrics.
    public var reasonCode: String {
        switch self {
        case .invalidJSON: "invalid_json"
        case .notAnObject: "not_an_object"
        case .tooLarge, .tooDense: "too_large"
        }
    }

    public var description: String {
        switch self {
        case .invalidJSON(let error): "invalid JSON: \(error)"
        case .notAnObject(let kind): "message is a JSON \(kind), not an object"
        case .tooLarge(let size, let limit): "message of \(size) bytes exceeds the limit of \(limit) bytes"
        case .tooDense(let size, let limit):
            "message of \(size) bytes would take more than \(limit) bytes of memory parsed (\(MessageCost.parsedFactor) times its size and 64 KiB): its JSON is too dense, e.g. a long array of small numbers"
        }
    }
}

/// What routing one message may take in memory, bounded by its body's size.
///
/// A body of `n` bytes is held once, parsed into at most ``parsedLimit(bodySize:)`` (8n + 64 KiB,
/// enforced by the parser), and encoded for its outputs a few copies at a time, at most
/// ``copiesLimit(bodySize:)`` (2n + 16 KiB, or one copy when a copy is larger). The input
/// counts ``reservation(bodySize:)`` against `--max-inflight-bytes` for each message it delivers,
/// so the budget bounds what messages take after parsing, not only their raw bytes.
public enum MessageCost {
    /// Parsed JSON may take this many times the body's size (plus ``parsedAllowance``).
    public static let parsedFactor = 8
    /// What any message may take parsed, however small its body.
    public static let parsedAllowance = 64 << 10
    /// Encoded copies for the outputs held at once: this many times the body's size (plus
    /// ``copiesAllowance``).
    public static let copiesFactor = 2
    /// Room for the copies of a small message (one per agent of a broadcast).
    public static let copiesAllowance = 16 << 10

    /// The most memory parsing a body of `bodySize` bytes may take.
    public static func parsedLimit(bodySize: Int) -> Int { parsedFactor * bodySize + parsedAllowance }

    /// The most memory a message's encoded copies take at once (at least one copy is allowed).
    public static func copiesLimit(bodySize: Int) -> Int { copiesFactor * bodySize + copiesAllowance }

    /// What one message of `bodySize` bytes may take while it is routed: its body, its parsed
    /// form and its copies.
    public static func reservation(bodySize: Int) -> Int {
        bodySize + parsedLimit(bodySize: bodySize) + copiesLimit(bodySize: bodySize)
    }
}
