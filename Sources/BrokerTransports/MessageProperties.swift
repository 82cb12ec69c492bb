/// What a producer put on a message besides its body, in the terms every message system has:
/// content type, message id, correlation id, reply-to, timestamp and typed headers. The router
/// carries them through unchanged and adds its own bookkeeping to `headers` under `x-broker-`
/// names.
///
/// What only the message's own transport has (AMQP's delivery mode, priority, expiration, user
/// id, app id, type, …) rides along in ``native``: the router never reads it, and the transport
/// that made it puts it back byte for byte when it publishes a copy. A transport of another
/// kind leaves what it cannot carry behind.
///
/// `nil` is "not set", which is not the same as an empty string: a copy of a message with no
/// `correlation_id` has none either.
public struct MessageProperties: Sendable, Hashable {
    public var contentType: String?
    public var messageID: String?
    public var correlationID: String?
    public var replyTo: String?
    /// Seconds since 1970.
    public var timestamp: UInt64?
    /// The application headers.
    public var headers: Headers
    /// What the message's transport carries beyond the properties above, opaque to the router.
    public var native: (any NativeProperties)?

    public init(
        contentType: String? = nil, messageID: String? = nil, correlationID: String? = nil, replyTo: String? = nil,
        timestamp: UInt64? = nil, headers: Headers = [:], native: (any NativeProperties)? = nil
    ) {
        self.contentType = contentType
        self.messageID = messageID
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.timestamp = timestamp
        self.headers = headers
        self.native = native
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        guard
            lhs.contentType == rhs.contentType && lhs.messageID == rhs.messageID
                && lhs.correlationID == rhs.correlationID && lhs.replyTo == rhs.replyTo
                && lhs.timestamp == rhs.timestamp && lhs.headers == rhs.headers
        else { return false }
        switch (lhs.native, rhs.native) {
        case (nil, nil): return true
        case (let left?, let right?): return left.isEqual(to: right)
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(contentType)
        hasher.combine(messageID)
        hasher.combine(correlationID)
        hasher.combine(replyTo)
        hasher.combine(timestamp)
        hasher.combine(headers)
        native?.hash(into: &hasher)
    }
}

/// Properties only one kind of transport has, kept on ``MessageProperties/native`` by the
/// transport that received the message, for the copies it publishes.
public protocol NativeProperties: Sendable {
    /// Whether `other` holds the same properties.
    func isEqual(to other: any NativeProperties) -> Bool
    func hash(into hasher: inout Hasher)
}

extension NativeProperties where Self: Hashable {
    public func isEqual(to other: any NativeProperties) -> Bool { (other as? Self) == self }
}
