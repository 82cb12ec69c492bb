import BrokerTransports
import CRabbitMQ
import Foundation

/// Turns ``MessageProperties`` into rabbitmq-c's `amqp_basic_properties_t`, byte for byte:
/// strings are copied with their length (a NUL byte is data, not the end), values keep their
/// field types, nested tables and arrays are built in place.
///
/// The memory lives in one rabbitmq-c pool that ``recycle()`` reuses, so publishing does not
/// allocate per message once the pool has grown. Not thread-safe: one per publisher thread.
public final class PropertyEncoder {
    private let pool: UnsafeMutablePointer<amqp_pool_t>

    public init() {
        pool = .allocate(capacity: 1)
        init_amqp_pool(pool, 4096)
    }

    deinit {
        empty_amqp_pool(pool)
        pool.deallocate()
    }

    /// Makes the memory of every earlier ``encode(_:)`` reusable.
    func recycle() { recycle_amqp_pool(pool) }

    /// What a consumer decodes from a publish of `message` by a connection logged in as `user`:
    /// the publisher's placement (``AMQPPropertyMapping/wire(for:user:impersonator:)``), encoding and
    /// the consumer's decoding back to back, without a server (for tests and `broker-dev bench`).
    public func roundTrip(_ message: OutboundMessage, user: String, impersonator: Bool = false)
        -> (properties: MessageProperties, hops: Int)
    {
        defer { recycle() }
        return AMQPPropertyMapping.decode(
            encode(AMQPPropertyMapping.wire(for: message, user: user, impersonator: impersonator)))
    }

    /// The basic properties of `properties`, valid until ``recycle()``.
    func encode(_ properties: MessageProperties) -> amqp_basic_properties_t {
        typealias Flag = AMQPPropertyMapping.Flag
        var raw = amqp_basic_properties_t()
        var flags: amqp_flags_t = 0
        func set(_ value: String?, _ flag: amqp_flags_t, _ field: inout amqp_bytes_t) {
            guard let value else { return }
            field = bytes(value)
            flags |= flag
        }
        let amqp = properties.amqp
        set(properties.contentType, Flag.contentType, &raw.content_type)
        set(amqp.contentEncoding, Flag.contentEncoding, &raw.content_encoding)
        if !properties.headers.isEmpty {
            raw.headers = table(properties.headers)
            flags |= Flag.headers
        }
        if let mode = amqp.deliveryMode {
            raw.delivery_mode = mode
            flags |= Flag.deliveryMode
        }
        if let priority = amqp.priority {
            raw.priority = priority
            flags |= Flag.priority
        }
        set(properties.correlationID, Flag.correlationID, &raw.correlation_id)
        set(properties.replyTo, Flag.replyTo, &raw.reply_to)
        set(amqp.expiration, Flag.expiration, &raw.expiration)
        set(properties.messageID, Flag.messageID, &raw.message_id)
        if let timestamp = properties.timestamp {
            raw.timestamp = timestamp
            flags |= Flag.timestamp
        }
        set(amqp.type, Flag.type, &raw.type)
        set(amqp.userID, Flag.userID, &raw.user_id)
        set(amqp.appID, Flag.appID, &raw.app_id)
        set(amqp.clusterID, Flag.clusterID, &raw.cluster_id)
        raw._flags = flags
        return raw
    }

    private func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        guard let memory = amqp_pool_alloc(pool, max(count, 1)) else { fatalError("out of memory") }
        return memory
    }

    private func bytes(_ text: String) -> amqp_bytes_t {
        var text = text
        return text.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    private func bytes(_ buffer: UnsafeRawBufferPointer) -> amqp_bytes_t {
        let memory = allocate(buffer.count)
        if let base = buffer.baseAddress, buffer.count > 0 { memory.copyMemory(from: base, byteCount: buffer.count) }
        return amqp_bytes_t(len: buffer.count, bytes: memory)
    }

    private func bytes(_ array: [UInt8]) -> amqp_bytes_t { array.withUnsafeBytes { bytes($0) } }

    /// `table` in rabbitmq-c's form, valid until ``recycle()``.
    func table(_ table: Headers) -> amqp_table_t {
        let count = table.count
        let entries = allocate(count * MemoryLayout<amqp_table_entry_t>.stride)
            .bindMemory(to: amqp_table_entry_t.self, capacity: count)
        for (index, entry) in table.entries.enumerated() {
            (entries + index).initialize(to: amqp_table_entry_t(key: bytes(entry.name), value: field(entry.value)))
        }
        return amqp_table_t(num_entries: Int32(count), entries: entries)
    }

    private func field(_ value: HeaderValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        func kind(_ character: Unicode.Scalar) { field.kind = UInt8(ascii: character) }
        switch value {
        case .boolean(let v):
            kind("t")
            field.value.boolean = v ? 1 : 0
        case .int8(let v):
            kind("b")
            field.value.i8 = v
        case .uint8(let v):
            kind("B")
            field.value.u8 = v
        case .int16(let v):
            kind("s")
            field.value.i16 = v
        case .uint16(let v):
            kind("u")
            field.value.u16 = v
        case .int32(let v):
            kind("I")
            field.value.i32 = v
        case .uint32(let v):
            kind("i")
            field.value.u32 = v
        case .int64(let v):
            kind("l")
            field.value.i64 = v
        case .uint64(let v):
            kind("L")
            field.value.u64 = v
        case .float(let v):
            kind("f")
            field.value.f32 = v
        case .double(let v):
            kind("d")
            field.value.f64 = v
        case .decimal(let scale, let v):
            kind("D")
            field.value.decimal = amqp_decimal_t(decimals: scale, value: v)
        case .longString(let v):
            kind("S")
            field.value.bytes = bytes(v)
        case .bytes(let v):
            kind("x")
            field.value.bytes = bytes(v)
        case .timestamp(let v):
            kind("T")
            field.value.u64 = v
        case .array(let values):
            kind("A")
            let entries = allocate(values.count * MemoryLayout<amqp_field_value_t>.stride)
                .bindMemory(to: amqp_field_value_t.self, capacity: values.count)
            for (index, element) in values.enumerated() { (entries + index).initialize(to: self.field(element)) }
            field.value.array = amqp_array_t(num_entries: Int32(values.count), entries: entries)
        case .table(let nested):
            kind("F")
            field.value.table = table(nested)
        case .void:
            kind("V")
        }
        return field
    }
}

extension MessageProperties {
    /// The size of the content-header frame that carries these properties: frame header and
    /// end (8), class, weight, body size and flags (14), and each property set.
    var headerFrameBytes: Int {
        var bytes = 8 + 14
        let amqp = self.amqp
        forEachShortString(amqp: amqp) { _, value in bytes += 1 + value.utf8.count }
        if amqp.deliveryMode != nil { bytes += 1 }
        if amqp.priority != nil { bytes += 1 }
        if timestamp != nil { bytes += 8 }
        if !headers.isEmpty { bytes += headers.encodedBytes }
        return bytes
    }
}

extension Headers {
    /// The table's size on the wire (its 4-byte length included).
    var encodedBytes: Int { entries.reduce(4) { $0 + 1 + $1.name.utf8.count + $1.value.encodedBytes } }

    /// The first name in the table, or in a table inside it, that AMQP cannot carry.
    var tooLongName: String? {
        for entry in entries {
            if entry.name.utf8.count > PublishLimits.shortStringBytes { return entry.name }
            if let nested = entry.value.tooLongName { return nested }
        }
        return nil
    }
}

extension HeaderValue {
    /// The value's size on the wire, its type byte included.
    var encodedBytes: Int {
        switch self {
        case .boolean, .int8, .uint8: 2
        case .int16, .uint16: 3
        case .int32, .uint32, .float: 5
        case .int64, .uint64, .double, .timestamp: 9
        case .decimal: 6
        case .longString(let bytes), .bytes(let bytes): 5 + bytes.count
        case .array(let values): values.reduce(5) { $0 + $1.encodedBytes }
        case .table(let table): 1 + table.encodedBytes
        case .void: 1
        }
    }

    var tooLongName: String? {
        switch self {
        case .table(let table): table.tooLongName
        case .array(let values): values.lazy.compactMap(\.tooLongName).first
        default: nil
        }
    }
}
