import BrokerTransports
import CRabbitMQ
import Foundation

/// One rabbitmq-c connection with channel 1 open. Not thread-safe: exactly one thread (the
/// consumer's or the publisher's) owns it for its whole life.
final class AMQPConnection {
    static let channel: amqp_channel_t = 1

    let state: amqp_connection_state_t
    private var open = false

    /// - Parameter name: how the connection shows in RabbitMQ (`rabbitmqctl list_connections
    ///   client_properties`, the management UI).
    init(_ configuration: AMQPConfiguration, name: String = "broker") throws(AMQPError) {
        guard let state = amqp_new_connection() else { throw AMQPError.connection("cannot allocate a connection") }
        self.state = state
        let socket: OpaquePointer?
        if let tls = configuration.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw AMQPError.connection("cannot create a TLS socket") }
            if let ca = tls.caCertificate, amqp_ssl_socket_set_cacert(socket, ca) != AMQP_STATUS_OK.rawValue {
                throw AMQPError.connection("cannot load CA certificate \(ca)")
            }
            if let certificate = tls.clientCertificate, let key = tls.clientKey,
                amqp_ssl_socket_set_key(socket, certificate, key) != AMQP_STATUS_OK.rawValue
            {
                throw AMQPError.connection("cannot load client certificate \(certificate)")
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
            _ = amqp_ssl_socket_set_ssl_versions(socket, AMQP_TLSv1_2, AMQP_TLSvLATEST)
        } else {
            socket = amqp_tcp_socket_new(state)
        }
        guard let socket else { throw AMQPError.connection("cannot create a socket") }
        let seconds = configuration.connectTimeout.components.seconds
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: 0)
        // A server that accepts the connection and never answers must not hold the thread:
        // the AMQP handshake gets the connect timeout, every later RPC 30 s.
        _ = amqp_set_handshake_timeout(state, &timeout)
        var rpcTimeout = timeval(tv_sec: 30, tv_usec: 0)
        _ = amqp_set_rpc_timeout(state, &rpcTimeout)
        let status = amqp_socket_open_noblock(socket, configuration.host, Int32(configuration.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError.connection(
                "cannot connect to \(configuration.host):\(configuration.port): \(String(cString: amqp_error_string2(status)))"
            )
        }
        try check(
            broker_amqp_login_plain(
                state, configuration.virtualHost, 0, 131_072, Int32(configuration.heartbeat), configuration.user,
                configuration.password, name),
            "login to \(configuration)")
        amqp_channel_open(state, Self.channel)
        try check(amqp_get_rpc_reply(state), "channel open")
        open = true
    }

    deinit {
        if open {
            amqp_channel_close(state, Self.channel, Int32(AMQP_REPLY_SUCCESS))
            amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        }
        amqp_destroy_connection(state)
    }

    /// The server closed channel 1 (a channel error): acknowledge it, so the connection can
    /// still close politely.
    func channelClosedByServer() {
        var ok = amqp_channel_close_ok_t()
        amqp_send_method(state, Self.channel, broker_method_channel_close_ok, &ok)
        amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        open = false
    }

    /// Marks the connection as broken: no polite close on the way out.
    func abandon() { open = false }

    /// The socket, for `poll`.
    var socket: Int32 { amqp_get_sockfd(state) }

    /// Whether frames are already read and waiting in rabbitmq-c's buffers.
    var hasBufferedFrames: Bool { amqp_data_in_buffer(state) != 0 || amqp_frames_enqueued(state) != 0 }

    /// Throws unless `reply` is normal.
    func check(_ reply: amqp_rpc_reply_t, _ context: String) throws(AMQPError) {
        if let message = Self.describe(reply) { throw AMQPError.connection("\(context): \(message)") }
    }

    /// `nil` for a normal reply, else what went wrong.
    static func describe(_ reply: amqp_rpc_reply_t) -> String? {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL: return nil
        case AMQP_RESPONSE_NONE: return "missing RPC reply"
        case AMQP_RESPONSE_LIBRARY_EXCEPTION: return String(cString: amqp_error_string2(reply.library_error))
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            switch reply.reply.id {
            case broker_method_connection_close:
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                return "server closed the connection: \(close.reply_code) \(string(close.reply_text))"
            case broker_method_channel_close:
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                return "server closed the channel: \(close.reply_code) \(string(close.reply_text))"
            default: return "server error (method \(reply.reply.id))"
            }
        default: return "unknown reply"
        }
    }

    /// Declares a durable queue (idempotent when it exists with the same settings). A queue that
    /// exists with other arguments is a configuration error that says what differs.
    func declareDurableQueue(_ name: String, arguments: Headers = [:]) throws(AMQPError) {
        // The encoder owns the table's memory until the reply is read; none for no arguments.
        let encoder = arguments.isEmpty ? nil : PropertyEncoder()
        let table = encoder?.table(arguments) ?? amqp_empty_table
        name.withCString { pointer in
            _ = amqp_queue_declare(state, Self.channel, amqp_cstring_bytes(pointer), 0, 1, 0, 0, table)
        }
        let reply = amqp_get_rpc_reply(state)
        withExtendedLifetime(encoder) {}
        guard let problem = Self.describe(reply) else { return }
        if let mismatch = QueueMismatch.explain(problem) { throw AMQPError.configuration(mismatch) }
        throw AMQPError.connection("declare queue \(name): \(problem)")
    }

    static func string(_ bytes: amqp_bytes_t) -> String {
        guard let pointer = bytes.bytes, bytes.len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: bytes.len), as: UTF8.self)
    }

    static func data(_ bytes: amqp_bytes_t) -> [UInt8] {
        guard let pointer = bytes.bytes, bytes.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: bytes.len))
    }
}

/// Wakes a thread blocked in `poll` from any other thread (an eventfd).
final class Wakeup: @unchecked Sendable {
    let fd: Int32

    init() { fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }

    deinit { close(fd) }

    func signal() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    func drain() {
        var value: UInt64 = 0
        _ = read(fd, &value, 8)
    }
}

extension Wakeup {
    /// Sleeps for `delay` unless signalled first (a reconnect delay that shutdown cuts short).
    func sleep(_ delay: Duration) {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        let milliseconds = delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000
        _ = poll(&fds, 1, Int32(clamping: milliseconds))
    }
}

/// Waits until `socket` is readable or `wakeup` is signalled, at most `milliseconds`.
func waitForInput(socket: Int32, wakeup: Wakeup, milliseconds: Int32) -> (socket: Bool, wakeup: Bool) {
    var fds = [
        pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
        pollfd(fd: wakeup.fd, events: Int16(POLLIN), revents: 0),
    ]
    let count = poll(&fds, 2, milliseconds)
    guard count > 0 else { return (false, false) }
    let socketReady = fds[0].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0
    return (socketReady, fds[1].revents & Int16(POLLIN) != 0)
}
