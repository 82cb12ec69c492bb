import CRabbitMQ

/// Synchronous queue administration (tests, benchmarks, start-up checks): one short-lived
/// connection per call.
public enum AMQPAdmin {
    /// The number of ready messages in `queue`, whatever its type and arguments (declared as
    /// `configuration` says when it is missing).
    public static func messageCount(_ queue: String, configuration: AMQPConfiguration) throws(AMQPError) -> Int {
        let connection = try AMQPConnection(configuration)
        var count = 0
        queue.withCString { name in
            if let ok = amqp_queue_declare(
                connection.state, AMQPConnection.channel, amqp_cstring_bytes(name), 1, 0, 0, 0, amqp_empty_table)
            {
                count = Int(ok.pointee.message_count)
            }
        }
        let reply = amqp_get_rpc_reply(connection.state)
        guard let problem = AMQPConnection.describe(reply) else { return count }
        guard problem.contains("404") else {
            throw AMQPError.connection("declare queue \(queue) passively: \(problem)")
        }
        // Missing (NOT_FOUND closed the channel): declare it, empty.
        connection.channelClosedByServer()
        try declareQueues([queue], configuration: configuration)
        return 0
    }

    /// Whether `queue` exists (a passive declare: nothing is created).
    public static func queueExists(_ queue: String, configuration: AMQPConfiguration) throws(AMQPError) -> Bool {
        let connection = try AMQPConnection(configuration)
        queue.withCString { name in
            _ = amqp_queue_declare(
                connection.state, AMQPConnection.channel, amqp_cstring_bytes(name), 1, 0, 0, 0, amqp_empty_table)
        }
        let reply = amqp_get_rpc_reply(connection.state)
        guard let problem = AMQPConnection.describe(reply) else { return true }
        // NOT_FOUND closes the channel, not the connection.
        if problem.contains("404") {
            connection.channelClosedByServer()
            return false
        }
        throw AMQPError.connection("declare queue \(queue) passively: \(problem)")
    }

    /// Declares `queues` (durable) over one connection, as outputs, or as the broker's input
    /// (`asInput`: with the delivery limit and single active consumer of ``AMQPConfiguration/queues``).
    public static func declareQueues(_ queues: [String], configuration: AMQPConfiguration, asInput: Bool = false)
        throws(AMQPError)
    {
        let connection = try AMQPConnection(configuration)
        for queue in queues {
            try connection.declareDurableQueue(queue, arguments: configuration.queues.arguments(input: asInput))
        }
    }

    /// Deletes `queue` if it exists.
    public static func deleteQueue(_ queue: String, configuration: AMQPConfiguration) throws(AMQPError) {
        let connection = try AMQPConnection(configuration)
        queue.withCString { name in
            _ = amqp_queue_delete(connection.state, AMQPConnection.channel, amqp_cstring_bytes(name), 0, 0)
        }
        try connection.check(amqp_get_rpc_reply(connection.state), "delete queue \(queue)")
    }

    /// Declares a direct exchange and binds `queue` to it with `routingKey`.
    public static func bind(
        queue: String, exchange: String, routingKey: String, configuration: AMQPConfiguration
    ) throws(AMQPError) {
        let connection = try AMQPConnection(configuration)
        try connection.declareDurableQueue(queue)
        exchange.withCString { e in
            _ = amqp_exchange_declare(
                connection.state, AMQPConnection.channel, amqp_cstring_bytes(e), amqp_cstring_bytes("direct"), 0, 0, 1,
                0, amqp_empty_table)
        }
        try connection.check(amqp_get_rpc_reply(connection.state), "declare exchange \(exchange)")
        queue.withCString { q in
            exchange.withCString { e in
                routingKey.withCString { k in
                    _ = amqp_queue_bind(
                        connection.state, AMQPConnection.channel, amqp_cstring_bytes(q), amqp_cstring_bytes(e),
                        amqp_cstring_bytes(k), amqp_empty_table)
                }
            }
        }
        try connection.check(amqp_get_rpc_reply(connection.state), "bind \(queue) to \(exchange)")
    }
}
