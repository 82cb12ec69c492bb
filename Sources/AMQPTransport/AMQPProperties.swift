import BrokerTransports

/// The AMQP 0-9-1 basic properties that have no place in the transport-neutral
/// ``BrokerTransports/MessageProperties``: the consumer keeps them on
/// ``BrokerTransports/MessageProperties/native`` and the publisher puts them back, so a copy
/// carries the producer's properties byte for byte. Read and set them through
/// ``BrokerTransports/MessageProperties/amqp``.
///
/// Kept small: the two one-byte properties inline and the rarer texts behind one reference, so
/// that the usual delivery (a delivery mode, perhaps a priority) stores them without an
/// allocation of their own.
public struct AMQPProperties: NativeProperties, Hashable, CustomStringConvertible {
    /// 1: transient, 2: persistent. The publisher sends a message without one as persistent.
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    private var texts: Texts?

    public init(
        deliveryMode: UInt8? = nil, priority: UInt8? = nil, contentEncoding: String? = nil, expiration: String? = nil,
        type: String? = nil, userID: String? = nil, appID: String? = nil, clusterID: String? = nil
    ) {
        self.deliveryMode = deliveryMode
        self.priority = priority
        let values = TextValues(
            contentEncoding: contentEncoding, expiration: expiration, type: type, userID: userID, appID: appID,
            clusterID: clusterID)
        texts = values.isEmpty ? nil : Texts(values)
    }

    public var contentEncoding: String? {
        get { self[\.contentEncoding] }
        set { self[\.contentEncoding] = newValue }
    }

    /// The per-message TTL in milliseconds, as text (AMQP carries it as a string).
    public var expiration: String? {
        get { self[\.expiration] }
        set { self[\.expiration] = newValue }
    }

    public var type: String? {
        get { self[\.type] }
        set { self[\.type] = newValue }
    }

    /// The user that published the message. RabbitMQ checks it against the publishing
    /// connection's user, so the publisher may carry another user's in a header instead
    /// (``AMQPPropertyMapping``).
    public var userID: String? {
        get { self[\.userID] }
        set { self[\.userID] = newValue }
    }

    public var appID: String? {
        get { self[\.appID] }
        set { self[\.appID] = newValue }
    }

    /// AMQP's deprecated `cluster-id`.
    public var clusterID: String? {
        get { self[\.clusterID] }
        set { self[\.clusterID] = newValue }
    }

    /// The properties that are set, by their AMQP names.
    public var description: String {
        let set: [(String, Any?)] = [
            ("delivery_mode", deliveryMode), ("priority", priority), ("content_encoding", contentEncoding),
            ("expiration", expiration), ("type", type), ("user_id", userID), ("app_id", appID),
            ("cluster_id", clusterID),
        ]
        return "[" + set.compactMap { name, value in value.map { "\(name): \($0)" } }.joined(separator: ", ") + "]"
    }

    /// Whether no property is set.
    public var isEmpty: Bool { deliveryMode == nil && priority == nil && texts == nil }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.deliveryMode == rhs.deliveryMode && lhs.priority == rhs.priority && lhs.texts?.values == rhs.texts?.values
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(deliveryMode)
        hasher.combine(priority)
        hasher.combine(texts?.values)
    }

    /// One of the text properties; setting one makes a new ``Texts`` (none when all are nil).
    private subscript(text: WritableKeyPath<TextValues, String?>) -> String? {
        get { texts?.values[keyPath: text] }
        set {
            var values = texts?.values ?? TextValues()
            values[keyPath: text] = newValue
            texts = values.isEmpty ? nil : Texts(values)
        }
    }

    private struct TextValues: Sendable, Hashable {
        var contentEncoding: String?
        var expiration: String?
        var type: String?
        var userID: String?
        var appID: String?
        var clusterID: String?

        var isEmpty: Bool {
            contentEncoding == nil && expiration == nil && type == nil && userID == nil && appID == nil
                && clusterID == nil
        }
    }

    /// Immutable: an edit makes a new one, so copies of the properties never share a change.
    private final class Texts: Sendable {
        let values: TextValues
        init(_ values: TextValues) { self.values = values }
    }
}

extension MessageProperties {
    /// The AMQP-only properties (none set when the message came from another kind of transport);
    /// setting them all to nil removes them.
    public var amqp: AMQPProperties {
        get { (native as? AMQPProperties) ?? AMQPProperties() }
        set { native = newValue.isEmpty ? nil : newValue }
    }

    /// Calls `body` with each short-string property that is set, by its AMQP name (`headers`,
    /// `delivery_mode`, `priority` and `timestamp` are not strings). Allocates nothing. `amqp`:
    /// these properties' ``amqp``, when the caller has read them already.
    func forEachShortString(
        amqp: AMQPProperties? = nil, _ body: (_ name: String, _ value: String) throws -> Void
    ) rethrows {
        let amqp = amqp ?? self.amqp
        if let contentType { try body("content_type", contentType) }
        if let contentEncoding = amqp.contentEncoding { try body("content_encoding", contentEncoding) }
        if let correlationID { try body("correlation_id", correlationID) }
        if let replyTo { try body("reply_to", replyTo) }
        if let expiration = amqp.expiration { try body("expiration", expiration) }
        if let messageID { try body("message_id", messageID) }
        if let type = amqp.type { try body("type", type) }
        if let userID = amqp.userID { try body("user_id", userID) }
        if let appID = amqp.appID { try body("app_id", appID) }
        if let clusterID = amqp.clusterID { try body("cluster_id", clusterID) }
    }
}
