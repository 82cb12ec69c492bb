import AMQPTransport
import BrokerTransports
import InMemoryTransport

extension TransportFactory {
    /// The broker's own transports: RabbitMQ (`amqp://`, `amqps://`) and in-memory queues
    /// (`memory://NAME`, for the demo and tests).
    public static let standard = TransportFactory()
        .registering(["amqp", "amqps"]) { try AMQPBroker(url: $0) }
        .registering(["memory"]) { try InMemoryTransport(url: $0) }
}
