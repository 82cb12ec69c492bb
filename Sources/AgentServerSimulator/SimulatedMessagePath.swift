import AMQPTransport
import BrokerCore
import BrokerTransports
import Foundation
import Logging
import Synchronization

/// The agent server's side of the message path, on RabbitMQ, as the original server behaves.
///
/// Consumes `server_input_queue` and, for each message:
/// - `routing_status` `pending`: republishes the body to `broker_input_queue` with fresh
///   properties (delivery mode only) and Python's JSON spacing, as the original server does;
/// - otherwise it delivers to the receiver (for an `ERROR` addressed to `Server`, to its
///   sender): an online agent gets it in `agent_queue_<id>`; for an offline agent the sender
///   gets an `ERROR` back through `broker_input_queue` (no `routing_status`, so the broker routes
///   it once); an `ERROR` for an offline agent is not bounced again; a receiver the server does
///   not know is dropped and logged ("Cannot deliver"), as the original server does after it has
///   forgotten an agent.
///
/// On start it publishes `SERVER_AVAILABLE` with its WebSocket URL to
/// `server_advertisement_queue`.
public final class SimulatedMessagePath: Sendable {
    /// Queue names (the original server's).
    public struct Queues: Sendable {
        public var serverInput = "server_input_queue"
        public var brokerInput = "broker_input_queue"
        public var advertisements = "server_advertisement_queue"
        public var agentPrefix = "agent_queue_"

        public init() {}
    }

    /// What the message path did so far.
    public struct Counts: Sendable, Hashable {
        public var delivered = 0
        public var droppedUnknown = 0
        public var droppedOfflineErrors = 0
        public var errorsReturned = 0
        public var republished = 0
        public var invalid = 0
    }

    private let amqp: AMQPConfiguration
    private let queues: Queues
    private let agents: @Sendable (String) -> AgentStatusRecord?
    private let logger: Logger
    private let running = Mutex<(consumer: AMQPConsumer, publisher: AMQPPublisher, task: Task<Void, Never>)?>(nil)
    private let tally = Mutex(Counts())
    private let declared = Mutex<Set<String>>([])

    /// - Parameter agents: the server's agent with an id, if it knows one.
    public init(
        amqp: AMQPConfiguration, queues: Queues = Queues(), logger: Logger = Logger(label: "simulator.messages"),
        agents: @escaping @Sendable (String) -> AgentStatusRecord?
    ) {
        self.amqp = amqp
        self.queues = queues
        self.agents = agents
        self.logger = logger
    }

    public var counts: Counts { tally.withLock { $0 } }

    /// Starts consuming and announces the server at `webSocketURL`.
    public func start(webSocketURL: String) async throws {
        try AMQPAdmin.declareQueues(
            [queues.serverInput, queues.brokerInput, queues.advertisements], configuration: amqp)
        let publisher = AMQPPublisher(configuration: amqp)
        let consumer = AMQPConsumer(configuration: amqp, queue: queues.serverInput, prefetch: 128)
        let task = Task { [self] in
            await withDiscardingTaskGroup { group in
                for await message in consumer.messages {
                    group.addTask { await self.handle(message, publisher: publisher) }
                }
            }
        }
        running.withLock { $0 = (consumer, publisher, task) }
        let announcement = JSONObject([
            (MessageKey.messageType, .string("SERVER_AVAILABLE")), ("websocket_url", .string(webSocketURL)),
            ("timestamp", .string(ISO8601DateFormatter().string(from: Date()))),
        ])
        let result = await publisher.publish(
            OutboundMessage(body: PythonJSON.bytes(announcement), target: .queue(queues.advertisements)))
        guard case .confirmed = result else {
            throw AMQPError.channel("cannot publish SERVER_AVAILABLE: \(result)")
        }
    }

    /// Keeps delivering for `grace`, then until `server_input_queue` is empty (for at most
    /// `draining` in all), then stops consuming (unacknowledged messages go back to the queue)
    /// and closes.
    public func stop(grace: Duration = .zero, draining: Duration = .zero) async {
        guard
            let (consumer, publisher, task) = running.withLock({ r in
                defer { r = nil }
                return r
            })
        else { return }
        let deadline = ContinuousClock.now + max(grace, draining)
        try? await Task.sleep(for: grace)
        while ContinuousClock.now < deadline,
            (try? AMQPAdmin.messageCount(queues.serverInput, configuration: amqp)) ?? 0 > 0
        {
            try? await Task.sleep(for: .milliseconds(50))
        }
        consumer.beginGracefulShutdown()
        await task.value
        await consumer.run()
        publisher.beginGracefulShutdown()
    }

    /// Makes sure `agent_queue_<id>` exists for each id.
    public func declareAgentQueues(_ ids: [String]) throws {
        let missing = declared.withLock { declared in ids.filter { !declared.contains($0) } }
        guard !missing.isEmpty else { return }
        try AMQPAdmin.declareQueues(missing.map { queues.agentPrefix + $0 }, configuration: amqp)
        declared.withLock { $0.formUnion(missing) }
    }

    private func handle(_ inbound: InboundMessage, publisher: AMQPPublisher) async {
        guard let message = try? Message(decoding: inbound.body) else {
            logger.warning("dropping a message that is not a JSON object")
            tally.withLock { $0.invalid += 1 }
            inbound.settlement.ack()
            return
        }
        let outcome = route(message)
        if let (target, body) = outcome.publish {
            let result = await publisher.publish(OutboundMessage(body: body, target: .queue(target)))
            guard case .confirmed = result else {
                inbound.settlement.reject(requeue: true)
                return
            }
        }
        tally.withLock { outcome.count(&$0) }
        inbound.settlement.ack()
    }

    private struct Outcome {
        var publish: (queue: String, body: [UInt8])?
        var count: (inout Counts) -> Void
    }

    private func route(_ message: Message) -> Outcome {
        if message[string: MessageKey.routingStatus] == "pending" {
            return Outcome(publish: (queues.brokerInput, PythonJSON.bytes(message.body))) { $0.republished += 1 }
        }
        let isError = message.messageType == "ERROR"
        let receiver = message.receiverID ?? ""
        let target = isError && receiver == "Server" ? message.senderID ?? "" : receiver
        guard let agent = agents(target) else {
            logger.warning(
                "unknown receiver_id \(target). Cannot deliver",
                metadata: [
                    "message_id": "\(message.messageID ?? "-")", "message_type": "\(message.messageType ?? "-")",
                ])
            return Outcome { $0.droppedUnknown += 1 }
        }
        if agent.isOnline {
            if (try? declareAgentQueues([agent.agentID])) == nil {
                logger.error("cannot declare the agent queue", metadata: ["agent": "\(agent.agentID)"])
            }
            return Outcome(publish: (queues.agentPrefix + agent.agentID, PythonJSON.bytes(message.body))) {
                $0.delivered += 1
            }
        }
        if isError {
            logger.info("not bouncing an ERROR for an offline agent", metadata: ["agent": "\(agent.agentID)"])
            return Outcome { $0.droppedOfflineErrors += 1 }
        }
        let error = JSONObject([
            (MessageKey.messageType, .string("ERROR")), (MessageKey.messageID, .string(message.messageID ?? "")),
            (MessageKey.senderID, .string("Server")), (MessageKey.receiverID, .string(message.senderID ?? "")),
            ("text_payload", .string("Agent \(agent.agentID) is offline. Message not delivered.")),
            ("in_reply_to_message_id", .string(message.messageID ?? "")),
        ])
        return Outcome(publish: (queues.brokerInput, PythonJSON.bytes(error))) { $0.errorsReturned += 1 }
    }
}
