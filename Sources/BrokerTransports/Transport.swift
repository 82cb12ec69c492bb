/// The seams between the router and the outside world. A transport (``Transport``) makes the
/// inputs (``InboundSource``) and outputs (``OutboundSink``) of one message system; each has a
/// lifecycle and a health a user can observe. The router never touches sockets, and transports
/// never call the rule engine.

/// Where a message is published: a queue, or a topic that the message system routes by a key to
/// whatever is bound to it (AMQP: an exchange and a routing key; NATS: a subject).
public enum PublishTarget: Sendable, Hashable, CustomStringConvertible {
    /// The queue of this name.
    case queue(String)
    /// The topic `name`, routed by `key`.
    case topic(String, key: String)

    public var description: String {
        switch self {
        case .queue(let name): name
        case .topic(let name, let key): "\(name)/\(key)"
        }
    }
}

/// A message to publish.
public struct OutboundMessage: Sendable, Hashable {
    public var body: [UInt8]
    public var target: PublishTarget
    /// The properties and headers to publish with (without a delivery mode: persistent).
    public var properties: MessageProperties
    /// How many times the broker has routed this message (0: not stamped). Transports carry it
    /// in the cheapest place that leaves the producer's properties alone (AMQP: the `app_id`
    /// property when the producer set none, else an `x-broker-hops` header).
    public var hops: Int

    public init(
        body: [UInt8], target: PublishTarget, properties: MessageProperties = MessageProperties(), hops: Int = 0
    ) {
        self.body = body
        self.target = target
        self.properties = properties
        self.hops = hops
    }

    /// The application headers (``MessageProperties/headers``).
    public var headers: Headers {
        get { properties.headers }
        set { properties.headers = newValue }
    }
}

/// How a publish ended.
public enum PublishResult: Sendable, Hashable {
    /// The broker took responsibility for the message (publisher confirm `ack`).
    case confirmed
    /// The message could not be routed to any queue (a `mandatory` publish came back).
    case returned(reason: String)
    /// The target does not exist or the message cannot be carried: retrying will not help.
    case rejected(reason: String)
    /// The broker refused it for now (a negative confirm: a queue at its length limit with
    /// `reject-publish`, an internal error): the same publish later can succeed.
    case refused(reason: String)
    /// The connection or channel went away before a confirm: the outcome is unknown, so the
    /// input must be redelivered.
    case unknown(reason: String)
}

/// Publishes messages and reports each one's confirmation.
public protocol OutboundSink: TransportLifecycle {
    /// Publishes `message` and waits for its confirmation. Many publishes may be awaited at
    /// once: a sink pipelines them. Every call gets exactly one result, also when the sink shuts
    /// down (then `.unknown`).
    func publish(_ message: OutboundMessage) async -> PublishResult
    /// Publishes `message` like ``publish(_:)``, calling `accepted` once the sink has taken it
    /// in the order it sends in: a publish made after `accepted` goes out after this one. The
    /// router keeps input order with it (``OutboundSink/publish(_:accepted:)`` by default calls
    /// `accepted` only with the outcome, which keeps order one confirm at a time).
    func publish(_ message: OutboundMessage, accepted: @escaping @Sendable () -> Void) async -> PublishResult
    /// Publishes `messages` in this order and waits for all their confirmations; the results in
    /// the same order, one per message (``publish(_:)``'s). A sink takes the whole batch with one
    /// hand-off and answers it with one wake-up: this is the router's common path. By default
    /// the messages are published concurrently, one ``publish(_:)`` each.
    func publish(_ messages: [OutboundMessage]) async -> [PublishResult]
    /// Makes sure `queues` exist before messages are published to them (a new rule set names
    /// them), now if connected and on every reconnection. Throws when they cannot be declared
    /// now; the sink still declares them when it reconnects.
    func declare(_ queues: [String]) async throws
    /// Declares `queues` again now, although they were declared before: the message system said
    /// one is gone (deleted by hand, or by a policy) and the broker owns it by configuration.
    func declareAgain(_ queues: [String]) async throws
}

extension OutboundSink {
    /// Sinks without queues to declare accept any name.
    public func declare(_ queues: [String]) async throws {}

    /// As ``declare(_:)`` for sinks that keep no record of what they declared.
    public func declareAgain(_ queues: [String]) async throws { try await declare(queues) }

    /// One ``publish(_:)`` per message, all awaited at once.
    public func publish(_ messages: [OutboundMessage]) async -> [PublishResult] {
        if messages.count == 1 { return [await publish(messages[0])] }
        return await withTaskGroup(of: (Int, PublishResult).self) { group in
            for (index, message) in messages.enumerated() {
                group.addTask { (index, await publish(message)) }
            }
            var results = [PublishResult](repeating: .unknown(reason: "not published"), count: messages.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
    }

    /// Accepted when its outcome is known: in order, one publish at a time.
    public func publish(_ message: OutboundMessage, accepted: @escaping @Sendable () -> Void) async
        -> PublishResult
    {
        let result = await publish(message)
        accepted()
        return result
    }
}

/// A message taken from an input, which must be settled exactly once.
public struct InboundMessage: Sendable {
    public var body: [UInt8]
    /// What the producer set besides the body (the broker's own stamps removed: see ``hops``).
    public var properties: MessageProperties
    /// The input delivered it before (and it was not acknowledged then).
    public var redelivered: Bool
    /// The queue (or other input) it came from.
    public var source: String
    /// How many times the broker has routed this message before (see ``OutboundMessage/hops``).
    public var hops: Int
    /// Acknowledges or returns the message to its input.
    public let settlement: any Settlement

    public init(
        body: [UInt8], properties: MessageProperties = MessageProperties(), redelivered: Bool = false,
        source: String, hops: Int = 0, settlement: any Settlement
    ) {
        self.body = body
        self.properties = properties
        self.redelivered = redelivered
        self.source = source
        self.hops = hops
        self.settlement = settlement
    }

    /// The application headers (``MessageProperties/headers``).
    public var headers: Headers {
        get { properties.headers }
        set { properties.headers = newValue }
    }
}

/// The settle handle of one inbound message.
public protocol Settlement: Sendable {
    /// The message is done with: remove it from the input.
    func ack()
    /// Give the message back; with `requeue` the input delivers it again (marked redelivered).
    func reject(requeue: Bool)
}

/// A source of inbound messages (a queue consumer).
///
/// A source yields its messages one at a time (``messages``) or in batches (``batches``): a
/// batch is what it had ready at once (what one read from the network brought), in input order.
/// The router reads batches, deciding a batch at once and publishing it with one hand-off; a
/// source that cannot tell what arrived together implements ``messages`` only and gets batches
/// of one. A source's two streams are two views of one stream: read one of them, once.
public protocol InboundSource: TransportLifecycle {
    /// The messages, until graceful shutdown begins. Sources bound how many are unsettled at
    /// once (prefetch).
    var messages: AsyncStream<InboundMessage> { get }
    /// The messages in the batches they arrived in (never an empty batch), until graceful
    /// shutdown begins.
    var batches: AsyncStream<[InboundMessage]> { get }
    /// Stops deliveries for now (flow control): the messages stay in the input, delivered ones
    /// stay settleable. Idempotent; a source may deliver a few that were already on their way.
    func pause()
    /// Starts deliveries again after ``pause()``. Idempotent.
    func resume()
}

extension InboundSource {
    /// Each message a batch of its own.
    public var batches: AsyncStream<[InboundMessage]> {
        let messages = OneReader(messages.makeAsyncIterator())
        return AsyncStream(unfolding: { await messages.next().map { [$0] } })
    }
}

extension AsyncStream where Element == [InboundMessage] {
    /// The messages of the batches, one at a time (for a source whose own stream is batches).
    public var oneByOne: AsyncStream<InboundMessage> {
        let batches = OneReader(makeAsyncIterator())
        let waiting = OneReader(Array<InboundMessage>().makeIterator())
        return AsyncStream<InboundMessage>(unfolding: {
            while true {
                if let message = waiting.state.next() { return message }
                guard let batch = await batches.next() else { return nil }
                waiting.state = batch.makeIterator()
            }
        })
    }
}

/// The iterator of a stream that one task reads: ``AsyncStream``'s unfolding closure is
/// `@Sendable`, while an iterator is not; a stream is read by one task at a time, so the
/// iterator is never used by two at once.
private final class OneReader<State>: @unchecked Sendable {
    var state: State
    init(_ state: State) { self.state = state }
}

extension OneReader {
    func next<Element>() async -> Element? where State == AsyncStream<Element>.Iterator { await state.next() }
}

/// What every input and output shares: it starts connecting when it is made, ``run()`` returns
/// once it has shut down, and ``health`` says how it is doing.
///
/// Graceful shutdown of an input stops deliveries at once and keeps settling what was delivered
/// until all is settled (or its drain deadline passes; the rest is redelivered); of an output, it
/// closes the connection and answers whatever is still unconfirmed with `.unknown`, so the
/// daemon shuts outputs down only after the router has drained.
public protocol TransportLifecycle: Sendable {
    /// Returns once the adapter has shut down and released its connections.
    func run() async
    /// Starts the graceful shutdown. Idempotent.
    func beginGracefulShutdown()
    /// The connection's state now.
    var health: TransportHealth { get }
}

/// How an input or output is doing, for `/readyz` and `/metrics`.
public struct TransportHealth: Sendable, Hashable, CustomStringConvertible {
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// Not connected yet.
        case connecting
        /// Connected and working.
        case connected
        /// The connection was lost; reconnecting with backoff.
        case reconnecting
        /// Connected, but the server holds it back (RabbitMQ's `connection.blocked`).
        case blocked
        /// Shut down.
        case closed
    }

    public var state: State
    /// Where it is connected (credentials redacted).
    public var endpoint: String
    /// Why it is not connected, or what blocks it.
    public var detail: String?

    public init(state: State, endpoint: String, detail: String? = nil) {
        self.state = state
        self.endpoint = endpoint
        self.detail = detail
    }

    /// Whether messages can flow.
    public var isUp: Bool { state == .connected }

    public var description: String {
        "\(state.rawValue) \(endpoint)" + (detail.map { ": \($0)" } ?? "")
    }
}
