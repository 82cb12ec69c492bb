import BrokerTransports
import Synchronization

/// An in-memory queue system, for unit tests and the demo: queues you can publish to, consume
/// from with a prefetch limit, and inspect. Unacknowledged messages go back to their queue when
/// rejected with requeue, marked redelivered, as in AMQP.
public final class InMemoryQueues: Sendable {
    /// A message held in a queue.
    public struct Stored: Sendable, Hashable {
        public var body: [UInt8]
        public var properties: MessageProperties
        public var redelivered: Bool
        public var hops: Int = 0

        /// The application headers (``MessageProperties/headers``).
        public var headers: Headers { properties.headers }
    }

    private struct State {
        var queues: [String: [Stored]] = [:]
        var consumers: [String: InMemoryConsumer] = [:]
        /// Exchanges that exist besides the default one, with their bindings (routing key → queue).
        var exchanges: [String: [String: String]] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Declares an exchange whose routing keys map to queues.
    public func declareExchange(_ name: String, bindings: [String: String]) {
        state.withLock { $0.exchanges[name] = bindings }
    }

    /// The messages currently in `queue`.
    public func contents(of queue: String) -> [Stored] { state.withLock { $0.queues[queue] ?? [] } }

    /// Removes and returns the messages in `queue`.
    public func drain(_ queue: String) -> [Stored] {
        state.withLock { state in
            defer { state.queues[queue] = [] }
            return state.queues[queue] ?? []
        }
    }

    /// Adds a message to `queue` (as a producer would).
    public func enqueue(_ body: [UInt8], properties: MessageProperties = MessageProperties(), to queue: String) {
        enqueue(Stored(body: body, properties: properties, redelivered: false), to: queue)
    }

    func enqueue(_ message: Stored, to queue: String) {
        let consumer = state.withLock { state -> InMemoryConsumer? in
            state.queues[queue, default: []].append(message)
            return state.consumers[queue]
        }
        consumer?.pump()
    }

    func requeue(_ message: Stored, to queue: String) {
        var again = message
        again.redelivered = true
        let consumer = state.withLock { state -> InMemoryConsumer? in
            state.queues[queue, default: []].insert(again, at: 0)
            return state.consumers[queue]
        }
        consumer?.pump()
    }

    func take(from queue: String) -> Stored? {
        state.withLock { state in
            guard var items = state.queues[queue], !items.isEmpty else { return nil }
            let first = items.removeFirst()
            state.queues[queue] = items
            return first
        }
    }

    func register(_ consumer: InMemoryConsumer, for queue: String) {
        state.withLock { $0.consumers[queue] = consumer }
        consumer.pump()
    }

    func unregister(_ queue: String) {
        _ = state.withLock { $0.consumers.removeValue(forKey: queue) }
    }

    func resolve(_ target: PublishTarget) -> String? {
        state.withLock { state in
            switch target {
            case .queue(let name): name
            case .topic(let exchange, let key): state.exchanges[exchange]?[key]
            }
        }
    }

    func exchangeExists(_ name: String) -> Bool { name.isEmpty || state.withLock { $0.exchanges[name] != nil } }

    /// A consumer of `queue` with at most `prefetch` unsettled messages (delivering nothing
    /// until ``InMemoryConsumer/resume()`` when `paused`).
    public func consumer(of queue: String, prefetch: Int = 64, paused: Bool = false) -> InMemoryConsumer {
        let consumer = InMemoryConsumer(queues: self, queue: queue, prefetch: prefetch, paused: paused)
        register(consumer, for: queue)
        return consumer
    }

    /// A sink that publishes into these queues and confirms at once.
    public var sink: InMemorySink { InMemorySink(queues: self) }

    private static let byName = Mutex<[String: InMemoryQueues]>([:])

    /// The queues called `name` in this process (`memory://name`), made on first use.
    public static func named(_ name: String) -> InMemoryQueues {
        byName.withLock { all in
            if let queues = all[name] { return queues }
            let queues = InMemoryQueues()
            all[name] = queues
            return queues
        }
    }
}

/// `memory://NAME`: the process's in-memory queues of that name, for the demo and tests.
public struct InMemoryTransport: Transport {
    public let queues: InMemoryQueues
    public let endpoint: String

    /// The transport of a `memory://NAME` URL.
    public init(url: String) throws {
        guard url.lowercased().hasPrefix("memory://") else {
            throw TransportURLError(message: "'\(url)' is not a memory:// URL")
        }
        let name = String(url.dropFirst("memory://".count))
        self.init(queues: .named(name.isEmpty ? "default" : name), endpoint: "memory://\(name)")
    }

    /// A transport over `queues`.
    public init(queues: InMemoryQueues, endpoint: String = "memory://") {
        self.queues = queues
        self.endpoint = endpoint
    }

    public func makeInbound(queue: String, prefetch: Int, paused: Bool) -> any InboundSource {
        queues.consumer(of: queue, prefetch: prefetch, paused: paused)
    }

    public func makeOutbound(declaring queues: [String]) -> any OutboundSink { self.queues.sink }
}

/// Consumes one in-memory queue.
public final class InMemoryConsumer: InboundSource {
    private let queues: InMemoryQueues
    private let queue: String
    private let prefetch: Int
    private let continuation: AsyncStream<InboundMessage>.Continuation
    public let messages: AsyncStream<InboundMessage>
    private let inFlight = Mutex((count: 0, stopped: false, paused: false))
    /// Held from taking a message to yielding it, so the stream keeps the queue's order when
    /// settles on several threads pump at once.
    private let delivering = Mutex(())
    private let closed = AsyncSignal()

    init(queues: InMemoryQueues, queue: String, prefetch: Int, paused: Bool) {
        self.queues = queues
        self.queue = queue
        self.prefetch = prefetch
        (messages, continuation) = AsyncStream.makeStream(of: InboundMessage.self)
        inFlight.withLock { $0.paused = paused }
    }

    /// Delivers queued messages while fewer than `prefetch` are unsettled.
    func pump() {
        while true {
            let admitted = inFlight.withLock { state -> Bool in
                guard !state.stopped, !state.paused, state.count < prefetch else { return false }
                state.count += 1
                return true
            }
            guard admitted else { return }
            let delivered = delivering.withLock { _ -> Bool in
                guard let stored = queues.take(from: queue) else { return false }
                let settlement = InMemorySettlement(consumer: self, stored: stored)
                continuation.yield(
                    InboundMessage(
                        body: stored.body, properties: stored.properties, redelivered: stored.redelivered,
                        source: queue, hops: stored.hops, settlement: settlement))
                return true
            }
            guard delivered else {
                inFlight.withLock { $0.count -= 1 }
                return
            }
        }
    }

    func settled(_ stored: InMemoryQueues.Stored, requeue: Bool) {
        inFlight.withLock { $0.count -= 1 }
        if requeue { queues.requeue(stored, to: queue) }
        pump()
    }

    /// The number of delivered, unsettled messages.
    public var unsettled: Int { inFlight.withLock { $0.count } }

    public func pause() { inFlight.withLock { $0.paused = true } }

    /// Whether deliveries are paused (``pause()``) now.
    public var isPaused: Bool { inFlight.withLock { $0.paused } }

    public func resume() {
        inFlight.withLock { $0.paused = false }
        pump()
    }

    public func beginGracefulShutdown() {
        let first = inFlight.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        queues.unregister(queue)
        continuation.finish()
        closed.signal()
    }

    public func run() async {
        while !inFlight.withLock({ $0.stopped }) { _ = await closed.wait(timeout: .seconds(3600)) }
    }

    public var health: TransportHealth {
        TransportHealth(state: inFlight.withLock { $0.stopped } ? .closed : .connected, endpoint: "memory:\(queue)")
    }
}

final class InMemorySettlement: Settlement {
    private let consumer: InMemoryConsumer
    private let stored: InMemoryQueues.Stored
    private let done = Atomic(false)

    init(consumer: InMemoryConsumer, stored: InMemoryQueues.Stored) {
        self.consumer = consumer
        self.stored = stored
    }

    func ack() {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        consumer.settled(stored, requeue: false)
    }

    func reject(requeue: Bool) {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        consumer.settled(stored, requeue: requeue)
    }
}

/// Publishes into ``InMemoryQueues``: confirmed when a queue takes it, returned when the
/// routing key leads nowhere, rejected when the exchange does not exist.
public struct InMemorySink: OutboundSink {
    let queues: InMemoryQueues

    public func run() async {}
    public func beginGracefulShutdown() {}
    public var health: TransportHealth { TransportHealth(state: .connected, endpoint: "memory") }

    public func publish(_ message: OutboundMessage) async -> PublishResult {
        if case .topic(let exchange, _) = message.target, !queues.exchangeExists(exchange) {
            return .rejected(reason: "NOT_FOUND - no exchange '\(exchange)'")
        }
        guard let queue = queues.resolve(message.target) else {
            return .returned(reason: "NO_ROUTE")
        }
        queues.enqueue(
            InMemoryQueues.Stored(
                body: message.body, properties: message.properties, redelivered: false, hops: message.hops),
            to: queue)
        return .confirmed
    }

    /// One after the other: each is confirmed (or not) at once.
    public func publish(_ messages: [OutboundMessage]) async -> [PublishResult] {
        var results: [PublishResult] = []
        results.reserveCapacity(messages.count)
        for message in messages { results.append(await publish(message)) }
        return results
    }
}
