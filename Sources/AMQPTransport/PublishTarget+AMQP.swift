import BrokerTransports

extension PublishTarget {
    /// The target of an AMQP publish to `exchange` with `routingKey`: the default exchange
    /// (`""`) publishes to the queue the key names.
    init(exchange: String, routingKey: String) {
        self = exchange.isEmpty ? .queue(routingKey) : .topic(exchange, key: routingKey)
    }

    /// The exchange to publish to: a topic's name, or the default exchange for a queue.
    var exchange: String {
        switch self {
        case .queue: ""
        case .topic(let name, _): name
        }
    }

    /// The routing key: a topic's key, or the queue's name on the default exchange.
    var routingKey: String {
        switch self {
        case .queue(let name): name
        case .topic(_, let key): key
        }
    }
}
