import BrokerTransports
import CRabbitMQ
import Dispatch
import Foundation
import Logging
import Synchronization

/// Publishes persistent messages with publisher confirms, pipelined: many publishes are in
/// flight at once and each caller resumes when the broker confirms (or returns, or rejects)
/// its message.
///
/// One thread owns the connection. Publishes are `mandatory`, so a message no queue takes comes
/// back as `returned`. A publish to a missing exchange closes the channel: the channel is
/// reopened, publishes to that exchange are `rejected`, and the others in flight are `unknown`
/// (the router redelivers them). A message AMQP cannot carry (a name over 255 bytes, headers
/// that do not fit a frame; see ``PublishLimits``) is `rejected` before anything is sent, and
/// the connection stays up. A lost connection makes every in-flight publish `unknown`;
/// the publisher reconnects with exponential backoff and jitter, and new publishes wait.
///
/// A publish left unconfirmed for ``AMQPConfiguration/confirmTimeout`` (while RabbitMQ does not
/// block the connection) counts as a lost connection: the publisher closes it, every in-flight
/// publish is `unknown`, and it reconnects (to the next node of a cluster). RabbitMQ 3.10's
/// quorum queues can otherwise leave a channel's publishes unconfirmed for ever after a leader
/// change (a command sent to the dead leader is never resent, and later ones wait behind it).
/// Likewise when RabbitMQ has refused (nacked) every publish on the connection for that long
/// and still does: after a leader change, 3.10 can nack a channel's publishes to a quorum queue
/// for good, while a new connection's are confirmed. (A queue that refuses everything, full
/// with `reject-publish`, then costs a reconnection per timeout; the router retries either way.)
public final class AMQPPublisher: OutboundSink, @unchecked Sendable {
    private struct Request {
        var message: OutboundMessage
        var continuation: PublishWaiter
    }

    private struct InFlight {
        var target: PublishTarget
        var body: [UInt8]
        var continuation: PublishWaiter
        var returned: String?
        var sent: ContinuousClock.Instant
    }

    private let configuration: AMQPConfiguration
    /// The node of the cluster it uses now.
    private let node: ClusterNodes
    private let declaredQueues: Mutex<[String]>
    private let declarations = Mutex<[(queues: [String], done: CheckedContinuation<Void, any Error>)]>([])
    private let logger: Logger
    private let wakeup = Wakeup()
    private let requests = Mutex<[Request]>([])
    private let closed = Atomic(false)
    private let connectedFlag = Atomic(false)
    private let losses = Atomic(0)
    private let status = ConnectionStatus()
    private let finished = DispatchSemaphore(value: 0)

    // Owned by the publisher thread.
    private var inFlight: [UInt64: InFlight] = [:]
    private var sequence: UInt64 = 0
    private let encoder = PropertyEncoder()
    /// RabbitMQ blocks the connection (a resource alarm): confirms are not overdue then.
    private var publishingBlocked = false
    /// When the connection was last unblocked (or connected): confirm deadlines count from it.
    private var deadlinesStart = ContinuousClock.now
    private var lastDeadlineCheck = ContinuousClock.now
    /// The first nack since the last confirm, and the latest.
    private var refusals: (first: ContinuousClock.Instant, last: ContinuousClock.Instant)?

    /// Connects and declares `declareQueues` (durable) on every (re)connection.
    public init(
        configuration: AMQPConfiguration, declareQueues: [String] = [],
        logger: Logger = Logger(label: "broker.amqp.publisher")
    ) {
        self.configuration = configuration
        self.node = ClusterNodes(configuration)
        self.declaredQueues = Mutex(declareQueues)
        self.logger = logger
        let thread = Thread { [self] in self.runLoop() }
        thread.name = "amqp-publisher"
        thread.start()
    }

    /// Whether the publisher is connected right now.
    public var isConnected: Bool { connectedFlag.load(ordering: .relaxed) }

    /// How many connections it has given up or lost (and made again), from the start.
    public var connectionsLost: Int { losses.load(ordering: .relaxed) }

    public func publish(_ message: OutboundMessage) async -> PublishResult {
        await publish(message, accepted: {})
    }

    /// Accepted as soon as it is queued for the connection's thread, which sends in that order.
    public func publish(_ message: OutboundMessage, accepted: @escaping @Sendable () -> Void) async -> PublishResult {
        await withCheckedContinuation { continuation in
            defer { accepted() }
            if closed.load(ordering: .acquiring) {
                continuation.resume(returning: .unknown(reason: "publisher closed"))
                return
            }
            // Wake the thread only when the queue was empty: it drains everything queued.
            let wasEmpty = requests.withLock { requests in
                requests.append(Request(message: message, continuation: .one(continuation)))
                return requests.count == 1
            }
            if wasEmpty { wakeup.signal() }
        }
    }

    /// Queues the whole batch for the connection's thread at once (one wake-up), which sends it
    /// in order; the caller resumes once, when every message has its outcome.
    public func publish(_ messages: [OutboundMessage]) async -> [PublishResult] {
        guard !messages.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            if closed.load(ordering: .acquiring) {
                continuation.resume(
                    returning: Array(repeating: .unknown(reason: "publisher closed"), count: messages.count))
                return
            }
            let results = PublishWaiter.Batch(count: messages.count, continuation: continuation)
            let wasEmpty = requests.withLock { requests in
                let wasEmpty = requests.isEmpty
                for (index, message) in messages.enumerated() {
                    requests.append(Request(message: message, continuation: .batch(results, index)))
                }
                return wasEmpty
            }
            if wasEmpty { wakeup.signal() }
        }
    }

    /// Declares `queues` (durable) now when connected, and on every reconnection from now on.
    public func declare(_ queues: [String]) async throws {
        try await declare(queues, again: false)
    }

    /// Declares `queues` now even if they were declared before (one was deleted).
    public func declareAgain(_ queues: [String]) async throws {
        try await declare(queues, again: true)
    }

    private func declare(_ queues: [String], again: Bool) async throws {
        let new = declaredQueues.withLock { declared -> [String] in
            let new = queues.filter { !declared.contains($0) }
            declared += new
            return again ? queues : new
        }
        guard !new.isEmpty, isConnected else { return }
        try await withCheckedThrowingContinuation { continuation in
            declarations.withLock { $0.append((new, continuation)) }
            wakeup.signal()
        }
    }

    public var health: TransportHealth { status.health(endpoint: node.current.nodeDescription, queue: nil) }

    /// Closes the connection; publishes still unconfirmed end as `unknown`.
    public func beginGracefulShutdown() {
        closed.store(true, ordering: .releasing)
        wakeup.signal()
    }

    /// Returns once the publisher's thread has closed its connection.
    public func run() async {
        await finished.passed()
    }

    private func runLoop() {
        var backoff = Backoff(base: .milliseconds(100), cap: .seconds(10))
        while !closed.load(ordering: .acquiring) {
            do {
                let connection = try AMQPConnection(node.current, name: "broker publisher")
                try openConfirmChannel(connection, reopen: false)
                for queue in declaredQueues.withLock({ $0 }) {
                    try connection.declareDurableQueue(queue, arguments: configuration.queues.arguments(input: false))
                }
                connectedFlag.store(true, ordering: .relaxed)
                status.connected()
                logger.info("publisher connected", metadata: ["server": "\(node.current.nodeDescription)"])
                backoff.reset()
                try serve(connection)
            } catch {
                connectedFlag.store(false, ordering: .relaxed)
                losses.add(1, ordering: .relaxed)
                status.lost("\(error)")
                failAll(.unknown(reason: "\(error)"))
                failDeclarations(error)
                if closed.load(ordering: .acquiring) { break }
                node.moveOn()
                let delay = backoff.next()
                logger.error(
                    "publisher connection lost; reconnecting", metadata: ["error": "\(error)", "delay": "\(delay)"])
                wakeup.sleep(delay)
            }
        }
        connectedFlag.store(false, ordering: .relaxed)
        failAll(.unknown(reason: "publisher closed"))
        for request in requests.withLock({ r in
            defer { r.removeAll() }; return r
        }) {
            request.continuation.resume(returning: .unknown(reason: "publisher closed"))
        }
        failDeclarations(AMQPError.connection("publisher closed"))
        status.closed()
        finished.signal()
    }

    private func openConfirmChannel(_ connection: AMQPConnection, reopen: Bool) throws(AMQPError) {
        if reopen {
            amqp_channel_open(connection.state, AMQPConnection.channel)
            try connection.check(amqp_get_rpc_reply(connection.state), "reopen channel")
        }
        amqp_confirm_select(connection.state, AMQPConnection.channel)
        try connection.check(amqp_get_rpc_reply(connection.state), "confirm.select")
        sequence = 0
    }

    private func serve(_ connection: AMQPConnection) throws(AMQPError) {
        publishingBlocked = false
        deadlinesStart = .now
        refusals = nil
        while !closed.load(ordering: .acquiring) {
            try checkConfirmDeadline(connection)
            try declarePending(on: connection)
            let batch = requests.withLock { r in
                defer { r.removeAll(keepingCapacity: true) }
                return r
            }
            let frameMax = Int(amqp_get_frame_max(connection.state))
            for (index, request) in batch.enumerated() {
                let properties = AMQPPropertyMapping.wire(
                    for: request.message, user: configuration.user, impersonator: configuration.impersonator)
                if let violation = PublishLimits.violation(
                    to: request.message.target, properties: properties, frameMax: frameMax)
                {
                    request.continuation.resume(returning: .rejected(reason: "cannot be published: \(violation)"))
                    continue
                }
                do {
                    try send(request, properties: properties, on: connection)
                } catch {
                    // Every request gets exactly one outcome: the rest of the batch was never sent.
                    for unsent in batch[(index + 1)...] {
                        unsent.continuation.resume(returning: .unknown(reason: "not sent: \(error)"))
                    }
                    throw error
                }
            }
            if !batch.isEmpty || connection.hasBufferedFrames {
                // Confirms may already be waiting: read what is there without blocking.
                try readFrames(connection, wait: false)
                continue
            }
            let ready = waitForInput(socket: connection.socket, wakeup: wakeup, milliseconds: 250)
            if ready.wakeup { wakeup.drain() }
            if ready.socket || !ready.wakeup {
                // Data, or a quiet interval: reading also services heartbeats.
                try readFrames(connection, wait: !ready.socket)
            }
        }
    }

    /// About once a second: closes the connection when a publish has waited longer than the
    /// confirm timeout (not counting time RabbitMQ blocked the connection).
    private func checkConfirmDeadline(_ connection: AMQPConnection) throws(AMQPError) {
        let now = ContinuousClock.now
        guard now - lastDeadlineCheck >= .seconds(1), !publishingBlocked else { return }
        lastDeadlineCheck = now
        let timeout = configuration.confirmTimeout
        if let refusals, now - max(refusals.first, deadlinesStart) > timeout, now - refusals.last < .seconds(2) {
            connection.abandon()
            throw AMQPError.connection(
                "RabbitMQ refused every publish for \(timeout) and confirmed none: closing the connection")
        }
        guard let overdue = inFlight.values.first(where: { now - max($0.sent, deadlinesStart) > timeout }) else {
            return
        }
        connection.abandon()
        throw AMQPError.connection(
            "no confirm within \(timeout) for a publish to \(overdue.target) (\(inFlight.count) unconfirmed): closing the connection"
        )
    }

    /// Fails the ``declare(_:)`` calls still waiting (their queues are declared on reconnection).
    private func failDeclarations(_ error: any Error) {
        for declaration in declarations.withLock({ d in
            defer { d.removeAll() }; return d
        }) {
            declaration.done.resume(throwing: error)
        }
    }

    /// Answers ``declare(_:)`` calls (on the publisher thread, which owns the connection).
    private func declarePending(on connection: AMQPConnection) throws(AMQPError) {
        let pending = declarations.withLock { d in
            defer { d.removeAll() }
            return d
        }
        for (index, declaration) in pending.enumerated() {
            do {
                for queue in declaration.queues {
                    try connection.declareDurableQueue(queue, arguments: configuration.queues.arguments(input: false))
                }
                declaration.done.resume()
            } catch {
                // A refused declaration closes the channel: the connection starts over.
                declaration.done.resume(throwing: error)
                for later in pending[(index + 1)...] { later.done.resume(throwing: error) }
                connection.abandon()
                throw error
            }
        }
    }

    private func send(_ request: Request, properties: MessageProperties, on connection: AMQPConnection)
        throws(AMQPError)
    {
        sequence += 1
        let sequenceNumber = sequence
        inFlight[sequenceNumber] = InFlight(
            target: request.message.target, body: request.message.body, continuation: request.continuation,
            sent: .now)
        defer { encoder.recycle() }
        var raw = encoder.encode(properties)
        let target = request.message.target
        let status = target.exchange.withCString { exchange in
            target.routingKey.withCString { key in
                request.message.body.withUnsafeBytes { body in
                    let bytes = amqp_bytes_t(
                        len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress))
                    return amqp_basic_publish(
                        connection.state, AMQPConnection.channel, amqp_cstring_bytes(exchange),
                        amqp_cstring_bytes(key), 1, 0, &raw, bytes)
                }
            }
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            // The method frame may be on the wire without its content: the channel is unusable.
            connection.abandon()
            let error = String(cString: amqp_error_string2(status))
            if Self.isEncodingFailure(status), let entry = inFlight.removeValue(forKey: sequenceNumber) {
                // The message itself cannot be encoded (PublishLimits should have caught it).
                entry.continuation.resume(returning: .rejected(reason: "cannot be published: \(error)"))
            }
            throw AMQPError.connection("publish failed: \(error)")
        }
    }

    /// Whether rabbitmq-c refused to encode the publish (as opposed to failing to send it).
    private static func isEncodingFailure(_ status: Int32) -> Bool {
        status == AMQP_STATUS_TABLE_TOO_BIG.rawValue || status == AMQP_STATUS_BAD_AMQP_DATA.rawValue
    }

    /// Reads every frame that is available now (with `wait`, waiting a moment for the first).
    private func readFrames(_ connection: AMQPConnection, wait: Bool) throws(AMQPError) {
        var timeout = timeval(tv_sec: 0, tv_usec: wait ? 1_000 : 0)
        while true {
            var frame = amqp_frame_t()
            let status = amqp_simple_wait_frame_noblock(connection.state, &frame, &timeout)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return }
            guard status == AMQP_STATUS_OK.rawValue else {
                connection.abandon()
                throw AMQPError.connection("read failed: \(String(cString: amqp_error_string2(status)))")
            }
            timeout = timeval(tv_sec: 0, tv_usec: 0)
            guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { continue }
            try handle(frame, on: connection)
        }
    }

    private func handle(_ frame: amqp_frame_t, on connection: AMQPConnection) throws(AMQPError) {
        let method = frame.payload.method
        switch method.id {
        case broker_method_basic_ack:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            refusals = nil
            resolve(upTo: ack.delivery_tag, multiple: ack.multiple != 0) {
                $0.returned.map { .returned(reason: $0) } ?? .confirmed
            }
        case broker_method_basic_nack:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            let now = ContinuousClock.now
            refusals = (refusals?.first ?? now, now)
            resolve(upTo: nack.delivery_tag, multiple: nack.multiple != 0) { _ in
                .refused(reason: "nacked by the broker (a queue at its length limit with reject-publish?)")
            }
        case broker_method_basic_return:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let reason = "\(returned.reply_code) \(AMQPConnection.string(returned.reply_text))"
            var message = amqp_message_t()
            let reply = amqp_read_message(connection.state, frame.channel, &message, 0)
            guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
                connection.abandon()
                throw AMQPError.connection("cannot read a returned message")
            }
            defer { amqp_destroy_message(&message) }
            // A return precedes the confirm of its publish and carries no sequence number: it
            // belongs to the oldest unconfirmed publish of the same body to the same place
            // (identical publishes are interchangeable, so this is exact).
            let target = PublishTarget(
                exchange: AMQPConnection.string(returned.exchange),
                routingKey: AMQPConnection.string(returned.routing_key))
            let body = AMQPConnection.data(message.body)
            if let number = inFlight.filter({
                $0.value.returned == nil && $0.value.target == target && $0.value.body == body
            })
            .keys.min() {
                inFlight[number]?.returned = reason
            }
        case broker_method_channel_close:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let text = AMQPConnection.string(close.reply_text)
            var ok = amqp_channel_close_ok_t()
            amqp_send_method(connection.state, AMQPConnection.channel, broker_method_channel_close_ok, &ok)
            logger.error("channel closed by the server; reopening", metadata: ["reason": "\(text)"])
            let missingExchange = Self.missingExchange(in: text)
            for (_, entry) in inFlight {
                if let missingExchange, entry.target.exchange == missingExchange {
                    entry.continuation.resume(returning: .rejected(reason: text))
                } else {
                    entry.continuation.resume(returning: .unknown(reason: "channel closed: \(text)"))
                }
            }
            inFlight.removeAll()
            try openConfirmChannel(connection, reopen: true)
        case broker_method_connection_blocked:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            let reason = AMQPConnection.string(blocked.reason)
            publishingBlocked = true
            status.blocked("RabbitMQ blocks publishing: \(reason.isEmpty ? "resource alarm" : reason)")
            logger.error("RabbitMQ blocked the connection; publishes wait", metadata: ["reason": "\(reason)"])
        case broker_method_connection_unblocked:
            publishingBlocked = false
            deadlinesStart = .now
            status.unblocked()
            logger.notice("RabbitMQ unblocked the connection")
        case broker_method_connection_close:
            var ok = amqp_connection_close_ok_t()
            amqp_send_method(connection.state, 0, broker_method_connection_close_ok, &ok)
            connection.abandon()
            throw AMQPError.connection("server closed the connection")
        default:
            break
        }
    }

    private func resolve(upTo tag: UInt64, multiple: Bool, _ result: (InFlight) -> PublishResult) {
        if multiple {
            for number in inFlight.keys where number <= tag {
                if let entry = inFlight.removeValue(forKey: number) {
                    entry.continuation.resume(returning: result(entry))
                }
            }
        } else if let entry = inFlight.removeValue(forKey: tag) {
            entry.continuation.resume(returning: result(entry))
        }
    }

    private func failAll(_ result: PublishResult) {
        for (_, entry) in inFlight { entry.continuation.resume(returning: result) }
        inFlight.removeAll()
    }

    /// Who waits for a publish's outcome: its own caller, or one message of a batch.
    private enum PublishWaiter: Sendable {
        case one(CheckedContinuation<PublishResult, Never>)
        case batch(Batch, Int)

        func resume(returning result: PublishResult) {
            switch self {
            case .one(let continuation): continuation.resume(returning: result)
            case .batch(let batch, let index): batch.complete(index, with: result)
            }
        }

        /// The outcomes of a batch, gathered on the publisher's thread (the only one that
        /// completes them), handed to the caller with the last.
        final class Batch: @unchecked Sendable {
            private var results: [PublishResult]
            private var remaining: Int
            private let continuation: CheckedContinuation<[PublishResult], Never>

            init(count: Int, continuation: CheckedContinuation<[PublishResult], Never>) {
                results = Array(repeating: .unknown(reason: "not published"), count: count)
                remaining = count
                self.continuation = continuation
            }

            func complete(_ index: Int, with result: PublishResult) {
                results[index] = result
                remaining -= 1
                if remaining == 0 { continuation.resume(returning: results) }
            }
        }
    }

    /// The exchange named in "NOT_FOUND - no exchange 'x' in vhost '/'".
    static func missingExchange(in text: String) -> String? {
        guard let start = text.range(of: "no exchange '") else { return nil }
        let rest = text[start.upperBound...]
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }
}
