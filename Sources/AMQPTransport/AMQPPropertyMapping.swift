import BrokerTransports
import CRabbitMQ
import Foundation

/// How the transport maps ``MessageProperties`` to AMQP 0-9-1 basic properties and back, and
/// where it puts what the broker adds.
///
/// Everything a producer set travels unchanged, with its type, except two things RabbitMQ and
/// the broker need:
/// - **The hop count** rides in `app_id` as `broker-hops:N` when the producer set no `app_id`
///   (a basic property costs RabbitMQ nothing to pass on; a header table costs it CPU on every
///   publish), otherwise in an `x-broker-hops` header, so the producer's `app_id` survives.
/// - **`user_id`**: RabbitMQ refuses a publish whose `user_id` is not the publishing
///   connection's user (unless that user has the `impersonator` tag). A copy keeps the
///   property when it names the broker's own user or the broker's user is an impersonator
///   (``AMQPConfiguration/impersonator``); otherwise the validated value moves to an
///   `x-broker-user-id` header. A producer cannot set that header itself: the broker removes
///   one it did not write, so on a message the broker published it always names a user
///   RabbitMQ checked.
public enum AMQPPropertyMapping {
    /// The header that carries the hop count when the producer set an `app_id`.
    public static let hopsHeader = "x-broker-hops"
    /// The header that carries a `user_id` the broker's connection cannot publish as.
    public static let userIDHeader = "x-broker-user-id"
    static let hopsPrefix = "broker-hops:"

    /// The basic-property flag bits (AMQP 0-9-1, `basic` class).
    enum Flag {
        static let contentType: amqp_flags_t = 1 << 15
        static let contentEncoding: amqp_flags_t = 1 << 14
        static let headers: amqp_flags_t = 1 << 13
        static let deliveryMode: amqp_flags_t = 1 << 12
        static let priority: amqp_flags_t = 1 << 11
        static let correlationID: amqp_flags_t = 1 << 10
        static let replyTo: amqp_flags_t = 1 << 9
        static let expiration: amqp_flags_t = 1 << 8
        static let messageID: amqp_flags_t = 1 << 7
        static let timestamp: amqp_flags_t = 1 << 6
        static let type: amqp_flags_t = 1 << 5
        static let userID: amqp_flags_t = 1 << 4
        static let appID: amqp_flags_t = 1 << 3
        static let clusterID: amqp_flags_t = 1 << 2
    }

    /// The properties to publish `message` with from a connection logged in as `user`: the
    /// message's own, with the hop count stamped, `user_id` placed as the type documents, and a
    /// persistent delivery mode when none is set.
    public static func wire(for message: OutboundMessage, user: String, impersonator: Bool) -> MessageProperties {
        var properties = message.properties
        var amqp = properties.amqp
        if amqp.deliveryMode == nil { amqp.deliveryMode = 2 }
        if !properties.headers.isEmpty { properties.headers[userIDHeader] = nil }
        if let userID = amqp.userID, userID != user, !impersonator {
            amqp.userID = nil
            properties.headers[userIDHeader] = HeaderValue(userID)
        }
        if message.hops > 0 {
            if amqp.appID == nil {
                amqp.appID = hopsPrefix + String(message.hops)
            } else {
                properties.headers[hopsHeader] = HeaderValue(String(message.hops))
            }
        }
        properties.amqp = amqp
        return properties
    }

    /// What a delivery carries: the producer's properties (the broker's `app_id` stamp taken
    /// out) and the hop count from that stamp or the `x-broker-hops` header.
    static func decode(_ raw: amqp_basic_properties_t) -> (properties: MessageProperties, hops: Int) {
        let flags = raw._flags
        var properties = MessageProperties()
        guard flags != 0 else { return (properties, 0) }
        func string(_ flag: amqp_flags_t, _ bytes: amqp_bytes_t) -> String? {
            flags & flag == 0 ? nil : AMQPConnection.string(bytes)
        }
        if flags & Flag.contentType != 0 { properties.contentType = contentType(raw.content_type) }
        if flags & Flag.headers != 0 { properties.headers = decode(raw.headers) }
        properties.correlationID = string(Flag.correlationID, raw.correlation_id)
        properties.replyTo = string(Flag.replyTo, raw.reply_to)
        properties.messageID = string(Flag.messageID, raw.message_id)
        if flags & Flag.timestamp != 0 { properties.timestamp = raw.timestamp }
        var hops = 0
        var appID = string(Flag.appID, raw.app_id)
        if let stamp = appID, stamp.hasPrefix(hopsPrefix), let stamped = Int(stamp.dropFirst(hopsPrefix.count)) {
            hops = stamped
            appID = nil
        }
        let native = AMQPProperties(
            deliveryMode: flags & Flag.deliveryMode != 0 ? raw.delivery_mode : nil,
            priority: flags & Flag.priority != 0 ? raw.priority : nil,
            contentEncoding: string(Flag.contentEncoding, raw.content_encoding),
            expiration: string(Flag.expiration, raw.expiration), type: string(Flag.type, raw.type),
            userID: string(Flag.userID, raw.user_id), appID: appID, clusterID: string(Flag.clusterID, raw.cluster_id))
        if !native.isEmpty { properties.native = native }
        if hops == 0, !properties.headers.isEmpty, let header = properties.headers[hopsHeader]?.text {
            hops = Int(header) ?? 0
        }
        return (properties, hops)
    }

    private static let json = "application/json"

    /// The content type, without a new string for the common one.
    private static func contentType(_ bytes: amqp_bytes_t) -> String {
        if bytes.len == 16, let pointer = bytes.bytes, memcmp(pointer, "application/json", 16) == 0 { return json }
        return AMQPConnection.string(bytes)
    }

    static func decode(_ table: amqp_table_t) -> Headers {
        guard table.num_entries > 0, let entries = table.entries else { return [:] }
        var result: [Headers.Entry] = []
        result.reserveCapacity(Int(table.num_entries))
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result.append(Headers.Entry(name: AMQPConnection.string(entry.key), value: decode(entry.value)))
        }
        return Headers(result)
    }

    static func decode(_ field: amqp_field_value_t) -> HeaderValue {
        let value = field.value
        switch field.kind {
        case UInt8(ascii: "t"): return .boolean(value.boolean != 0)
        case UInt8(ascii: "b"): return .int8(value.i8)
        case UInt8(ascii: "B"): return .uint8(value.u8)
        case UInt8(ascii: "s"): return .int16(value.i16)
        case UInt8(ascii: "u"): return .uint16(value.u16)
        case UInt8(ascii: "I"): return .int32(value.i32)
        case UInt8(ascii: "i"): return .uint32(value.u32)
        case UInt8(ascii: "l"): return .int64(value.i64)
        case UInt8(ascii: "L"): return .uint64(value.u64)
        case UInt8(ascii: "f"): return .float(value.f32)
        case UInt8(ascii: "d"): return .double(value.f64)
        case UInt8(ascii: "D"): return .decimal(scale: value.decimal.decimals, value: value.decimal.value)
        case UInt8(ascii: "S"): return .longString(AMQPConnection.data(value.bytes))
        case UInt8(ascii: "x"): return .bytes(AMQPConnection.data(value.bytes))
        case UInt8(ascii: "T"): return .timestamp(value.u64)
        case UInt8(ascii: "F"): return .table(decode(value.table))
        case UInt8(ascii: "A"):
            guard value.array.num_entries > 0, let entries = value.array.entries else { return .array([]) }
            return .array((0..<Int(value.array.num_entries)).map { decode(entries[$0]) })
        default: return .void
        }
    }
}
