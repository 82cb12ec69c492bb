import BrokerTransports
import Foundation

/// RabbitMQ as a ``BrokerTransports/Transport``: `amqp://` and `amqps://` URLs. Every input is a
/// consumer with a connection (and thread) of its own; every output a pipelined publisher with
/// confirms.
public struct AMQPBroker: Transport {
    public let configuration: AMQPConfiguration
    /// How long a consumer keeps settling after graceful shutdown begins.
    public var drainTimeout: Duration = .seconds(10)

    public init(configuration: AMQPConfiguration, drainTimeout: Duration = .seconds(10)) {
        self.configuration = configuration
        self.drainTimeout = drainTimeout
    }

    /// The broker of an `amqp://` or `amqps://` URL, with the settings of `environment` that a
    /// URL cannot carry (``AMQPConfiguration/applyEnvironment(_:)``).
    public init(
        url: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        queues: QueueSettings = QueueSettings(), confirmTimeout: Duration = .seconds(30)
    ) throws {
        var configuration = try AMQPConfiguration(url: url)
        try configuration.applyEnvironment(environment)
        configuration.queues = queues
        configuration.confirmTimeout = confirmTimeout
        self.init(configuration: configuration)
    }

    public var endpoint: String { "\(configuration)" }

    public func makeInbound(queue: String, prefetch: Int, paused: Bool) -> any InboundSource {
        AMQPConsumer(
            configuration: configuration, queue: queue, prefetch: UInt16(clamping: prefetch),
            drainTimeout: drainTimeout, paused: paused)
    }

    public func makeInbound(queue: String, prefetch: Int, maximumUnsettledBytes: Int, paused: Bool)
        -> any InboundSource
    {
        AMQPConsumer(
            configuration: configuration, queue: queue, prefetch: UInt16(clamping: prefetch),
            maximumUnsettledBytes: maximumUnsettledBytes, drainTimeout: drainTimeout, paused: paused)
    }

    public func makeOutbound(declaring queues: [String]) -> any OutboundSink {
        AMQPPublisher(configuration: configuration, declareQueues: queues)
    }
}
