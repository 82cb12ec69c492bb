import BrokerCore
import BrokerTransports
import CRabbitMQ
import Dispatch
import Foundation
import Logging
import Synchronization

/// Consumes a durable queue with manual acknowledgements and a prefetch limit.
///
/// One thread owns the connection: it reads deliveries, applies acks and rejects requested from
/// any thread (woken through an eventfd, so a settle never waits for a poll timeout), services
/// heartbeats, and on any connection loss reconnects with exponential backoff and jitter.
/// Settles of messages from a lost connection are dropped: RabbitMQ redelivers those messages.
///
/// The deliveries that one read from the socket brought arrive as one batch (``batches``, at
/// most the prefetch), so the router decides and publishes them with one hand-off.
public final class AMQPConsumer: InboundSource, @unchecked Sendable {
    public let batches: AsyncStream<[InboundMessage]>
    private let continuation: AsyncStream<[InboundMessage]>.Continuation
    /// Deliveries read and not yet yielded (owned by the consumer's thread).
    private var batch: [InboundMessage] = []
    /// The connection's unsettled deliveries, for acknowledging them together (owned by the
    /// consumer's thread).
    private var acknowledgements = Acknowledgements()
    private let configuration: AMQPConfiguration
    /// The node of the cluster it uses now.
    private let node: ClusterNodes
    private let queue: String
    private let prefetch: UInt16
    private let logger: Logger
    private let wakeup = Wakeup()
    private let pending = Mutex(PendingSettles())
    private let stopped = Atomic(false)
    private let paused: Atomic<Bool>
    private let connectedFlag = Atomic(false)
    private let status = ConnectionStatus()
    private let outstanding = Atomic(0)
    private let cancellations = Atomic(0)
    private let unsettledBytes = Atomic(0)
    private let maximumUnsettledBytes: Int
    private let finished = DispatchSemaphore(value: 0)
    private let drainTimeout: Duration
    private var thread: Thread?

    struct PendingSettles {
        var generation: UInt64 = 0
        var requests: [(generation: UInt64, tag: UInt64, ack: Bool, requeue: Bool)] = []
    }

    /// Starts consuming `queue` (declared durable if missing); with `paused`, it connects and
    /// declares but takes no message until ``resume()``.
    ///
    /// - Parameter maximumUnsettledBytes: while the messages delivered and not yet settled may
    ///   take this much to route (``MessageCost/reservation(bodySize:)`` of each body: the body,
    ///   its parsed form and its copies), the consumer reads no further delivery (it keeps settling and sending
    ///   heartbeats; TCP flow control holds the rest in RabbitMQ). One message is always taken
    ///   when none is unsettled, so a message larger than the budget still flows.
    public init(
        configuration: AMQPConfiguration, queue: String, prefetch: UInt16 = 256,
        maximumUnsettledBytes: Int = Int.max, drainTimeout: Duration = .seconds(10),
        paused: Bool = false, logger: Logger = Logger(label: "broker.amqp.consumer")
    ) {
        self.maximumUnsettledBytes = max(1, maximumUnsettledBytes)
        self.paused = Atomic(paused)
        self.drainTimeout = drainTimeout
        self.configuration = configuration
        self.node = ClusterNodes(configuration)
        self.queue = queue
        self.prefetch = prefetch
        self.logger = logger
        (batches, continuation) = AsyncStream.makeStream(of: [InboundMessage].self)
        let thread = Thread { [self] in self.runLoop() }
        thread.name = "amqp-consumer-\(queue)"
        self.thread = thread
        thread.start()
    }

    /// The deliveries one at a time.
    public var messages: AsyncStream<InboundMessage> { batches.oneByOne }

    /// Whether the consumer is connected right now.
    public var isConnected: Bool { connectedFlag.load(ordering: .relaxed) }

    /// How many times the server cancelled the consumer (and it consumed again).
    public var serverCancellations: Int { cancellations.load(ordering: .relaxed) }

    public var health: TransportHealth { status.health(endpoint: node.current.nodeDescription, queue: queue) }

    /// Stops taking messages: the stream ends at once; the connection stays open until every
    /// delivered message is settled (or the drain timeout passes; unsettled ones are redelivered).
    public func beginGracefulShutdown() {
        stopped.store(true, ordering: .releasing)
        continuation.finish()
        wakeup.signal()
    }

    /// Stops deliveries (`basic.cancel`); delivered messages stay settleable.
    public func pause() {
        guard !paused.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wakeup.signal()
    }

    /// Starts deliveries again (`basic.consume`).
    public func resume() {
        guard paused.exchange(false, ordering: .acquiringAndReleasing) else { return }
        wakeup.signal()
    }

    /// What the messages delivered and not yet settled may take routed (their reservations).
    public var bytesUnsettled: Int { unsettledBytes.load(ordering: .relaxed) }

    func settle(generation: UInt64, tag: UInt64, bytes: Int, ack: Bool, requeue: Bool) {
        // Wake the thread only when the list was empty: it applies everything queued.
        let (wasEmpty, current) = pending.withLock { state in
            state.requests.append((generation, tag, ack, requeue))
            return (state.requests.count == 1, state.generation == generation)
        }
        outstanding.subtract(1, ordering: .relaxed)
        // Bytes of a lost connection's deliveries were forgotten with it.
        if current { unsettledBytes.subtract(bytes, ordering: .relaxed) }
        if wasEmpty { wakeup.signal() }
    }

    private func runLoop() {
        var backoff = Backoff(base: .milliseconds(100), cap: .seconds(10))
        while !stopped.load(ordering: .acquiring) {
            do {
                let connection = try AMQPConnection(node.current, name: "broker consumer \(queue)")
                try connection.declareDurableQueue(queue, arguments: configuration.queues.arguments(input: true))
                amqp_basic_qos(connection.state, AMQPConnection.channel, 0, prefetch, 0)
                try connection.check(amqp_get_rpc_reply(connection.state), "basic.qos")
                let generation = pending.withLock { state -> UInt64 in
                    state.generation += 1
                    state.requests.removeAll()
                    return state.generation
                }
                // Deliveries of a lost connection come back redelivered; their settles are void.
                acknowledgements = Acknowledgements()
                outstanding.store(0, ordering: .relaxed)
                unsettledBytes.store(0, ordering: .relaxed)
                logger.info(
                    "consumer connected",
                    metadata: [
                        "queue": "\(queue)", "server": "\(node.current.nodeDescription)", "prefetch": "\(prefetch)",
                    ])
                connectedFlag.store(true, ordering: .relaxed)
                status.connected()
                backoff.reset()
                var flow = Flow(tag: "broker.\(queue).\(generation)")
                try consume(connection, generation: generation, flow: &flow)
                connectedFlag.store(false, ordering: .relaxed)
            } catch {
                connectedFlag.store(false, ordering: .relaxed)
                status.lost("\(error)")
                if stopped.load(ordering: .acquiring) { break }
                node.moveOn()
                let delay = backoff.next()
                // A queue declared otherwise is not a lost connection: say what to change.
                var what = "connection lost"
                if case .configuration = error { what = "cannot consume" }
                logger.error(
                    "\(what); reconnecting",
                    metadata: ["queue": "\(queue)", "error": "\(error)", "delay": "\(delay)"])
                wakeup.sleep(delay)
            }
        }
        continuation.finish()
        connectedFlag.store(false, ordering: .relaxed)
        status.closed()
        finished.signal()
    }

    /// Returns when the consumer's thread has settled what it could and closed its connection
    /// (after ``beginGracefulShutdown()``); await it before the process exits so no
    /// acknowledgement is lost.
    public func run() async {
        await finished.passed()
    }

    /// Reads deliveries and applies settles until the connection fails or the consumer stops.
    /// Whether this connection's consumer is registered with the server.
    struct Flow {
        let tag: String
        var consuming = false
    }

    /// Registers or cancels the consumer to match ``pause()``/``resume()``. Both methods go out
    /// with `nowait`, so no reply has to be told apart from deliveries already in flight.
    private func applyFlow(_ connection: AMQPConnection, _ flow: inout Flow) throws(AMQPError) {
        let wanted = !paused.load(ordering: .acquiring)
        guard wanted != flow.consuming else { return }
        let status = flow.tag.withCString { tag in
            queue.withCString { name in
                if wanted {
                    var method = amqp_basic_consume_t(
                        ticket: 0, queue: amqp_cstring_bytes(name), consumer_tag: amqp_cstring_bytes(tag), no_local: 0,
                        no_ack: 0, exclusive: 0, nowait: 1, arguments: amqp_empty_table)
                    return amqp_send_method(
                        connection.state, AMQPConnection.channel, broker_method_basic_consume, &method)
                }
                var method = amqp_basic_cancel_t(consumer_tag: amqp_cstring_bytes(tag), nowait: 1)
                return amqp_send_method(connection.state, AMQPConnection.channel, broker_method_basic_cancel, &method)
            }
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            connection.abandon()
            throw AMQPError.connection(
                "cannot \(wanted ? "consume" : "cancel"): \(String(cString: amqp_error_string2(status)))")
        }
        flow.consuming = wanted
        logger.info(wanted ? "consuming" : "paused", metadata: ["queue": "\(queue)"])
    }

    /// Sends a heartbeat every half interval while deliveries are not read (reading is what
    /// services heartbeats otherwise).
    private func keepAlive(_ connection: AMQPConnection, heartbeat last: inout ContinuousClock.Instant)
        throws(AMQPError)
    {
        guard configuration.heartbeat > 0, ContinuousClock.now - last >= .seconds(configuration.heartbeat) / 2 else {
            return
        }
        var frame = amqp_frame_t()
        frame.frame_type = UInt8(AMQP_FRAME_HEARTBEAT)
        frame.channel = 0
        guard amqp_send_frame(connection.state, &frame) == AMQP_STATUS_OK.rawValue else {
            connection.abandon()
            throw AMQPError.connection("cannot send a heartbeat")
        }
        last = .now
    }

    private func consume(_ connection: AMQPConnection, generation: UInt64, flow: inout Flow) throws(AMQPError) {
        var lastHeartbeat = ContinuousClock.now
        // What was read is yielded before the thread waits. When the connection fails first, the
        // deliveries not yielded are forgotten: RabbitMQ redelivers them, and nothing routed a
        // copy of them that would then be a duplicate.
        defer { batch.removeAll() }
        while true {
            try applySettles(connection, generation: generation)
            if !stopped.load(ordering: .acquiring) { try applyFlow(connection, &flow) }
            if stopped.load(ordering: .acquiring) {
                yieldBatch()
                // Stop taking messages but keep settling those in flight for a short while.
                try drainAfterStop(connection, generation: generation)
                return
            }
            let held = unsettledBytes.load(ordering: .relaxed)
            if held > 0 && held >= maximumUnsettledBytes {
                yieldBatch()
                // Over the byte budget: read nothing until settles free room, but stay alive.
                wakeup.sleep(.milliseconds(250))
                wakeup.drain()
                try keepAlive(connection, heartbeat: &lastHeartbeat)
                continue
            }
            if !connection.hasBufferedFrames || batch.count >= Int(prefetch) {
                yieldBatch()
            }
            if !connection.hasBufferedFrames {
                let ready = waitForInput(socket: connection.socket, wakeup: wakeup, milliseconds: 250)
                if ready.wakeup { wakeup.drain() }
                if !ready.socket && ready.wakeup { continue }
            }
            if try readOne(connection, generation: generation) == .cancelledByServer {
                // The queue was deleted (or moved): declare it again and consume anew. What was
                // delivered stays settleable on this channel.
                cancellations.add(1, ordering: .relaxed)
                logger.warning(
                    "the server cancelled the consumer (queue deleted?); declaring it again and consuming",
                    metadata: ["queue": "\(queue)"])
                flow.consuming = false
                try connection.declareDurableQueue(queue, arguments: configuration.queues.arguments(input: true))
            }
        }
    }

    /// Hands the deliveries read so far to the stream; once the stream has ended (a graceful
    /// shutdown began), returns them to the queue instead.
    private func yieldBatch() {
        guard !batch.isEmpty else { return }
        if case .terminated = continuation.yield(batch) {
            for message in batch { message.settlement.reject(requeue: true) }
        }
        batch = []
        batch.reserveCapacity(16)
    }

    /// What reading one frame found, besides deliveries.
    private enum ReadResult {
        case handled
        case cancelledByServer
    }

    private func drainAfterStop(_ connection: AMQPConnection, generation: UInt64) throws(AMQPError) {
        let seconds = Double(drainTimeout.components.seconds) + Double(drainTimeout.components.attoseconds) / 1e18
        let deadline = Date().addingTimeInterval(seconds)
        while outstanding.load(ordering: .relaxed) > 0 && Date() < deadline {
            let ready = waitForInput(socket: connection.socket, wakeup: wakeup, milliseconds: 50)
            if ready.wakeup { wakeup.drain() }
            try applySettles(connection, generation: generation)
        }
        // The last settles may have arrived with the count reaching zero: apply them before closing.
        try applySettles(connection, generation: generation)
    }

    private func applySettles(_ connection: AMQPConnection, generation: UInt64) throws(AMQPError) {
        let requests = pending.withLock { state in
            defer { state.requests.removeAll(keepingCapacity: true) }
            return state.requests
        }
        guard !requests.isEmpty else { return }
        var acks: [UInt64] = []
        for request in requests where request.generation == generation {
            if request.ack {
                acks.append(request.tag)
                continue
            }
            acknowledgements.settled(request.tag)
            try send(
                amqp_basic_nack(connection.state, AMQPConnection.channel, request.tag, 0, request.requeue ? 1 : 0),
                connection)
        }
        let (upTo, single) = acknowledgements.acknowledge(acks)
        if let upTo { try send(amqp_basic_ack(connection.state, AMQPConnection.channel, upTo, 1), connection) }
        for tag in single { try send(amqp_basic_ack(connection.state, AMQPConnection.channel, tag, 0), connection) }
    }

    private func send(_ status: Int32, _ connection: AMQPConnection) throws(AMQPError) {
        guard status == AMQP_STATUS_OK.rawValue else {
            connection.abandon()
            throw AMQPError.connection("cannot settle: \(String(cString: amqp_error_string2(status)))")
        }
    }

    private func readOne(_ connection: AMQPConnection, generation: UInt64) throws(AMQPError) -> ReadResult {
        amqp_maybe_release_buffers(connection.state)
        var envelope = amqp_envelope_t()
        var timeout = timeval(tv_sec: 0, tv_usec: 20_000)
        let reply = amqp_consume_message(connection.state, &envelope, &timeout, 0)
        if reply.reply_type == AMQP_RESPONSE_NORMAL {
            defer { amqp_destroy_envelope(&envelope) }
            let tag = envelope.delivery_tag
            let cost = MessageCost.reservation(bodySize: envelope.message.body.len)
            let (properties, hops) = AMQPPropertyMapping.decode(envelope.message.properties)
            let message = InboundMessage(
                body: AMQPConnection.data(envelope.message.body), properties: properties,
                redelivered: envelope.redelivered != 0, source: queue, hops: hops,
                settlement: AMQPSettlement(consumer: self, generation: generation, tag: tag, bytes: cost))
            outstanding.add(1, ordering: .relaxed)
            unsettledBytes.add(cost, ordering: .relaxed)
            acknowledgements.delivered(tag)
            batch.append(message)
            return .handled
        }
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
            if reply.library_error == AMQP_STATUS_TIMEOUT.rawValue { return .handled }
            if reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue {
                // A frame other than a delivery: read it; a close means the connection is done.
                var frame = amqp_frame_t()
                guard amqp_simple_wait_frame(connection.state, &frame) == AMQP_STATUS_OK.rawValue else {
                    connection.abandon()
                    throw AMQPError.connection("lost while reading a frame")
                }
                if frame.frame_type == UInt8(AMQP_FRAME_METHOD) {
                    switch frame.payload.method.id {
                    case broker_method_channel_close, broker_method_connection_close:
                        connection.abandon()
                        throw AMQPError.connection("server closed the channel or connection")
                    case broker_method_basic_cancel: return .cancelledByServer
                    default: return .handled
                    }
                }
                return .handled
            }
        }
        connection.abandon()
        throw AMQPError.connection(AMQPConnection.describe(reply) ?? "consume failed")
    }
}

/// Settles one delivery through its consumer's thread.
final class AMQPSettlement: Settlement, @unchecked Sendable {
    private let consumer: AMQPConsumer
    private let generation: UInt64
    private let tag: UInt64
    private let bytes: Int
    private let done = Atomic(false)

    init(consumer: AMQPConsumer, generation: UInt64, tag: UInt64, bytes: Int) {
        self.consumer = consumer
        self.generation = generation
        self.tag = tag
        self.bytes = bytes
    }

    func ack() {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        consumer.settle(generation: generation, tag: tag, bytes: bytes, ack: true, requeue: false)
    }

    func reject(requeue: Bool) {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        consumer.settle(generation: generation, tag: tag, bytes: bytes, ack: false, requeue: requeue)
    }
}
