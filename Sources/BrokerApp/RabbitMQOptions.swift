import AMQPTransport
import ArgumentParser

/// `broker run`'s options that only the RabbitMQ transport has: how its queues are declared and
/// how long a publish waits for RabbitMQ's confirm.
public struct RabbitMQOptions: ParsableArguments {
    public init() {}

    @Option(
        help:
            "Type of the queues the broker declares (input, outputs, dead letters): classic, or quorum (replicated over a RabbitMQ cluster)."
    )
    public var queueType = "classic"

    @Option(
        help: "Quorum input queue: deliveries after which RabbitMQ stops redelivering a message (x-delivery-limit).")
    public var deliveryLimit: Int?

    @Flag(
        help:
            "Declare the input queue single-active-consumer: one replica routes at a time, in input order, the others stand by."
    )
    public var singleActiveConsumer = false

    /// How the queues are declared, from --queue-type, --delivery-limit and --single-active-consumer.
    public var queueSettings: QueueSettings {
        QueueSettings(
            kind: QueueSettings.Kind(rawValue: queueType) ?? .classic, deliveryLimit: deliveryLimit,
            singleActiveConsumer: singleActiveConsumer)
    }

    @Option(
        help:
            "Seconds a publish may wait for RabbitMQ's confirm before the connection is given up and its messages are redelivered (time RabbitMQ blocks publishing does not count)."
    )
    public var confirmTimeout = 30

    /// How long a publish may wait for its confirm.
    public var confirmDuration: Duration { .seconds(confirmTimeout) }

    public func validate() throws {
        guard confirmTimeout > 0 else { throw ValidationError("--confirm-timeout must be more than 0") }
        guard QueueSettings.Kind(rawValue: queueType) != nil else {
            throw ValidationError("--queue-type must be classic or quorum, not '\(queueType)'")
        }
        if let deliveryLimit {
            guard deliveryLimit >= 1 else { throw ValidationError("--delivery-limit must be 1 or more") }
            guard queueType == "quorum" else {
                throw ValidationError(
                    "--delivery-limit needs --queue-type quorum (classic queues have no delivery limit)")
            }
        }
    }
}
