import AMQPTransport
import BrokerTransports

extension TransportFactory {
    /// The broker's own transport: RabbitMQ (`amqp://`, `amqps://`).
    public static let standard = standard(queues: QueueSettings())

    /// The standard transports, RabbitMQ declaring its queues with `queues` (`broker run
    /// --queue-type`, `--delivery-limit`, `--single-active-consumer`) and giving a connection up
    /// after `confirmTimeout` without a publish confirm (`--confirm-timeout`).
    public static func standard(queues: QueueSettings, confirmTimeout: Duration = .seconds(30)) -> TransportFactory {
        TransportFactory()
            .registering(["amqp", "amqps"]) {
                try AMQPBroker(url: $0, queues: queues, confirmTimeout: confirmTimeout)
            }
    }
}
