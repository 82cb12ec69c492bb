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

    /// Why a message to `target` with these (wire) `properties` can never be published on a
    /// connection whose frames hold at most `frameMax` bytes; `nil` when it can.
    static func violation(to target: PublishTarget, properties: MessageProperties, frameMax: Int) -> String? {
        let exchange = target.exchange.utf8.count
        if exchange > shortStringBytes {
            return "the exchange name is \(exchange) bytes, longer than the \(shortStringBytes) bytes AMQP allows"
        }
        let key = target.routingKey.utf8.count
        if key > shortStringBytes {
            return "the routing key is \(key) bytes, longer than the \(shortStringBytes) bytes AMQP allows"
        }
        var longProperty: String?
        properties.forEachShortString { name, value in
            if longProperty == nil, value.utf8.count > shortStringBytes {
                longProperty =
                    "its \(name) is \(value.utf8.count) bytes, longer than the \(shortStringBytes) bytes AMQP allows"
            }
        }
        if let longProperty { return longProperty }
        if let name = properties.headers.tooLongName {
            return
                "a header name is \(name.utf8.count) bytes (\(name.prefix(40))…), longer than the \(shortStringBytes) bytes AMQP allows"
        }
        let header = properties.headerFrameBytes
        if header > frameMax {
            return
                "its properties and headers take \(header) bytes, more than the \(frameMax)-byte frame the connection allows"
        }
        return nil
    }
}
