import BrokerTransports

/// What AMQP 0-9-1 can carry in one publish, checked before anything is written to the socket.
///
/// rabbitmq-c refuses to encode a name longer than a short string or a header table that does
/// not fit one frame, and by then it may have sent the method frame already, which leaves the
/// channel unusable. A message that breaks a limit can never be published however often it is
/// retried: that is a property of the message, so it is refused up front (`.rejected`) and the
/// connection stays as it is.
enum PublishLimits {
    /// The longest short string (exchange and queue names, routing keys, header names).
    static let shortStringBytes = 255

    /// Why `message` can never be published on a connection whose frames hold at most
    /// `frameMax` bytes; `nil` when it can.
    static func violation(of message: OutboundMessage, appID: String, frameMax: Int) -> String? {
        let exchange = message.target.exchange.utf8.count
        if exchange > shortStringBytes {
            return "the exchange name is \(exchange) bytes, longer than the \(shortStringBytes) bytes AMQP allows"
        }
        let key = message.target.routingKey.utf8.count
        if key > shortStringBytes {
            return "the routing key is \(key) bytes, longer than the \(shortStringBytes) bytes AMQP allows"
        }
        if let name = message.headers.keys.first(where: { $0.utf8.count > shortStringBytes }) {
            return
                "a header name is \(name.utf8.count) bytes (\(name.prefix(40))…), longer than the \(shortStringBytes) bytes AMQP allows"
        }
        let header = headerFrameBytes(headers: message.headers, appID: appID)
        if header > frameMax {
            return
                "its properties and headers take \(header) bytes, more than the \(frameMax)-byte frame the connection allows"
        }
        return nil
    }

    /// The size of the content-header frame the publisher sends for these properties: frame
    /// header and end (8), class, weight, body size and flags (14), `content_type`
    /// (`application/json`), `delivery_mode`, `app_id` and the header table of long strings.
    static func headerFrameBytes(headers: [String: String], appID: String) -> Int {
        var bytes = 8 + 14 + (1 + 16) + 1
        if !appID.isEmpty { bytes += 1 + appID.utf8.count }
        if !headers.isEmpty {
            bytes += 4
            for (key, value) in headers { bytes += 1 + key.utf8.count + 1 + 4 + value.utf8.count }
        }
        return bytes
    }
}
