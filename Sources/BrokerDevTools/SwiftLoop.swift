import AMQPTransport
import ArgumentParser
import BrokerCore
import CRabbitMQ
import Foundation
import RoutingRules

/// `broker-dev swift-loop` (hidden; `bench-floor` runs it): what routing costs in Swift when
/// nothing else is in the way — one thread, one rabbitmq-c connection, each message decoded,
/// decided with the rules on a registry of 3 agents, encoded and published with confirms, and
/// every batch acknowledged with one `multiple` ack after its confirms, as the C relay does. No
/// tasks, no threads handing messages over, no dead-lettering or retries: it stops at the first
/// message that is not routed to exactly one queue. It prints the C relay's line.
struct SwiftLoop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swift-loop", abstract: "Route COUNT messages in a hand-written Swift loop (bench-floor).",
        shouldDisplay: false)

    @Argument(help: "The AMQP URL.") var url: String
    @Argument(help: "The input queue.") var input: String
    @Argument(help: "The output queue the rules' deliveries are sent to.") var output: String
    @Argument(help: "Messages to route.") var count: Int
    @Argument(help: "Prefetch: the most messages in one batch.") var prefetch = 256
    @Option(help: "Rule file (its output queue is redirected to OUTPUT).") var rules = "rules/default.yaml"

    private static let consume: amqp_channel_t = 1
    private static let publish: amqp_channel_t = 2

    func run() throws {
        let ruleSet = try Bench.redirect(try String(contentsOfFile: rules, encoding: .utf8), output: output)
        let snapshot = Bench.threeAgents().snapshot
        let connection = try Self.connect(try AMQPConfiguration(url: url), prefetch: prefetch, input: input)
        defer { amqp_destroy_connection(connection) }

        var random = FastRandom(seed: 1)
        var batch: [Routed] = []
        /// Deliveries that arrived while a batch waited for its confirms: the next batch's start.
        var early: [Routed] = []
        func route(_ tag: UInt64, _ body: amqp_bytes_t) throws -> Routed {
            let message = try Message(decoding: AMQPBytes.copy(body))
            let decision = ruleSet.evaluate(message, in: snapshot, random: &random)
            guard decision.deliveries.count == 1, case .queue(let queue) = decision.deliveries[0].destination else {
                throw ValidationError("a message was not routed to one queue: \(decision.outcome)")
            }
            return Routed(tag: tag, body: decision.deliveries[0].message.encoded(), destination: queue)
        }
        var relayed = 0
        var published: UInt64 = 0
        var confirmed: UInt64 = 0
        var started: (cpu: Double, wall: ContinuousClock.Instant)?
        while relayed < count {
            // 1. Decide what arrives, waiting only for the first of a batch.
            batch.removeAll(keepingCapacity: true)
            swap(&batch, &early)
            while batch.count < prefetch && relayed + batch.count < count {
                var wait = timeval(tv_sec: batch.isEmpty ? 30 : 0, tv_usec: 0)
                var envelope = amqp_envelope_t()
                amqp_maybe_release_buffers(connection)
                let reply = amqp_consume_message(connection, &envelope, &wait, 0)
                if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                    && reply.library_error == AMQP_STATUS_TIMEOUT.rawValue
                {
                    if batch.isEmpty { throw ValidationError("no message arrived within 30 s") }
                    break
                }
                try Self.check(reply, "consuming")
                defer { amqp_destroy_envelope(&envelope) }
                batch.append(try route(envelope.delivery_tag, envelope.message.body))
            }
            if started == nil { started = (Self.cpuSeconds(), .now) }
            // 2. Publish each, persistent, with confirms.
            var properties = amqp_basic_properties_t()
            properties._flags = amqp_flags_t(AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG)
            properties.delivery_mode = 2
            properties.content_type = amqp_cstring_bytes("application/json")
            for entry in batch {
                let status = entry.destination.withCString { queue in
                    entry.body.withUnsafeBytes { body in
                        amqp_basic_publish(
                            connection, Self.publish, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0, &properties,
                            amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
                    }
                }
                guard status == AMQP_STATUS_OK.rawValue else { throw ValidationError("publishing failed: \(status)") }
                published += 1
            }
            // 3. Wait for the confirms; what is delivered meanwhile is decided for the next batch.
            while confirmed < published {
                var frame = amqp_frame_t()
                guard amqp_simple_wait_frame(connection, &frame) == AMQP_STATUS_OK.rawValue else {
                    throw ValidationError("the connection failed while waiting for confirms")
                }
                guard frame.frame_type == AMQP_FRAME_METHOD else { continue }
                switch frame.payload.method.id {
                case broker_method_basic_ack:
                    confirmed =
                        frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                        .delivery_tag
                case broker_method_basic_deliver:
                    let tag = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
                        .delivery_tag
                    var message = amqp_message_t()
                    try Self.check(amqp_read_message(connection, Self.consume, &message, 0), "reading a delivery")
                    defer { amqp_destroy_message(&message) }
                    early.append(try route(tag, message.body))
                default:
                    throw ValidationError("unexpected method \(frame.payload.method.id) while waiting for confirms")
                }
            }
            // 4. One ack for the batch.
            if let last = batch.last, amqp_basic_ack(connection, Self.consume, last.tag, 1) != 0 {
                throw ValidationError("acking failed")
            }
            relayed += batch.count
        }
        guard let started else { return }
        let cpu = Self.cpuSeconds() - started.cpu
        let wall = ContinuousClock.now - started.wall
        let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        print(
            String(
                format: "swift-loop: %d messages in %.3f s, CPU %.3f s: %.2f us per message", relayed, seconds, cpu,
                cpu / Double(max(relayed, 1)) * 1e6))
    }

    /// Connects, opens a consuming channel and a confirming publishing channel, and consumes
    /// `input` with `prefetch`.
    static func connect(_ configuration: AMQPConfiguration, prefetch: Int, input: String) throws
        -> amqp_connection_state_t
    {
        guard let connection = amqp_new_connection(), let socket = amqp_tcp_socket_new(connection),
            amqp_socket_open(socket, configuration.host, Int32(configuration.port)) == AMQP_STATUS_OK.rawValue
        else { throw ValidationError("cannot connect to \(configuration.host):\(configuration.port)") }
        try check(
            broker_amqp_login_plain(
                connection, configuration.virtualHost, 0, 131_072, 0, configuration.user, configuration.password,
                "broker swift-loop"), "login")
        for channel in [consume, publish] {
            amqp_channel_open(connection, channel)
            try check(amqp_get_rpc_reply(connection), "opening channel \(channel)")
        }
        amqp_confirm_select(connection, publish)
        try check(amqp_get_rpc_reply(connection), "confirm.select")
        amqp_basic_qos(connection, consume, 0, UInt16(prefetch), 0)
        try check(amqp_get_rpc_reply(connection), "basic.qos")
        amqp_basic_consume(connection, consume, amqp_cstring_bytes(input), amqp_empty_bytes, 0, 0, 0, amqp_empty_table)
        try check(amqp_get_rpc_reply(connection), "basic.consume")
        return connection
    }

    /// A decided message: its delivery tag, the routed copy and its queue.
    struct Routed {
        var tag: UInt64
        var body: [UInt8]
        var destination: String
    }

    static func check(_ reply: amqp_rpc_reply_t, _ what: String) throws {
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else { throw ValidationError("\(what) failed") }
    }

    /// User + system CPU seconds of this process.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ value: timeval) -> Double { Double(value.tv_sec) + Double(value.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// rabbitmq-c's byte buffers as Swift arrays.
enum AMQPBytes {
    static func copy(_ bytes: amqp_bytes_t) -> [UInt8] {
        guard let pointer = bytes.bytes, bytes.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: bytes.len))
    }
}
