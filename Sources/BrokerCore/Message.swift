/// A message as it travels through the broker: a JSON object that keeps every key, in order.
///
/// The broker reads a few well-known keys (`message_type`, `sender_id`, `receiver_id`, …) and
/// passes everything else through untouched.
public struct Message: Sendable, Hashable {
    /// The message body.
    public var body: JSONObject

    /// Wraps an already parsed JSON object.
    public init(_ body: JSONObject) { self.body = body }

    /// The largest body accepted by default: 128 MiB, the largest message RabbitMQ (3.10 and
    /// later) accepts by default.
    public static let defaultMaximumSize = 128 << 20

    /// Decodes a message from its wire bytes.
    ///
    /// - Throws: ``MessageDecodingError`` when the bytes are too large, are not JSON, or are
    ///   JSON but not an object.
    public init(
        decoding bytes: some Collection<UInt8>, maximumSize: Int = Message.defaultMaximumSize
    ) throws(MessageDecodingError) {
        guard bytes.count <= maximumSize else {
            throw .tooLarge(size: bytes.count, limit: maximumSize)
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
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

    /// A short machine-readable reason, used for dead-letter headers and metrics.
    public var reasonCode: String {
        switch self {
        case .invalidJSON: "invalid_json"
        case .notAnObject: "not_an_object"
        case .tooLarge: "too_large"
        }
    }

    public var description: String {
        switch self {
        case .invalidJSON(let error): "invalid JSON: \(error)"
        case .notAnObject(let kind): "message is a JSON \(kind), not an object"
        case .tooLarge(let size, let limit): "message of \(size) bytes exceeds the limit of \(limit) bytes"
        }
    }
}
