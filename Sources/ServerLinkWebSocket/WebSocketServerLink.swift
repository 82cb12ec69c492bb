import BrokerCore
import BrokerTransports
import Foundation
import Logging
import NIOSSL
import NetworkFailures
import Synchronization
import WebSocketClient

/// The broker's registration with the agent server over WebSocket.
///
/// Connects to `WEBSOCKET_URL`, sends `REGISTER_BROKER`, reads `REGISTER_BROKER_RESPONSE`
/// (`grpc_port` as a string or a number), answers `PING` and `SERVER_HEARTBEAT` with `PONG`, and
/// logs and ignores everything else. Every registration (a new broker id, perhaps a new gRPC
/// endpoint) and every loss of one is published on ``events``, so the status feed can resubscribe
/// and the registry knows it is no longer synced.
///
/// Reconnecting: a server that is not listening (connection refused) costs a loopback connect,
/// so it is retried every ``Configuration/refusedRetryDelay``; a server that refuses the
/// registration or breaks the protocol is retried with exponential backoff and full jitter.
/// ``reconnectNow(reason:)`` cuts any wait short.
public final class WebSocketServerLink: ServerLink {
    /// Link settings.
    public struct Configuration: Sendable {
        /// The server's WebSocket URL (`ws://` or `wss://`).
        public var url = "ws://localhost:8765/ws"
        /// The name the broker registers under.
        public var brokerName = "broker"
        /// Reconnect backoff after a refused registration or a protocol error: first delay and cap.
        public var backoffBase: Duration = .milliseconds(500)
        public var backoffCap: Duration = .seconds(30)
        /// Delay between attempts while nothing listens at the URL.
        public var refusedRetryDelay: Duration = .milliseconds(200)
        /// Largest message accepted from the server.
        public var maximumFrameSize = 1 << 20
        /// How long a TCP connect may take.
        public var connectTimeout: Duration = .seconds(5)
        /// How long the WebSocket upgrade, and then the reply to `REGISTER_BROKER`, may take.
        public var registrationTimeout: Duration = .seconds(5)
        /// TLS for `wss://` (peer verification on, the system's trust roots).
        public var tls: TLSConfiguration = .makeClientConfiguration()

        public init() {}
    }

    public let events: AsyncStream<ServerLinkEvent>
    private let continuation: AsyncStream<ServerLinkEvent>.Continuation
    private let configuration: Configuration
    private let logger: Logger
    private let currentState = Mutex(ServerLinkState.disconnected(reason: "not started"))
    private let pongCount = Atomic(0)
    private let failures = Mutex((count: 0, last: String?.none))
    private let wakeUp = AsyncSignal()
    private let currentURL: Mutex<String>

    public init(configuration: Configuration, logger: Logger = Logger(label: "broker.server-link")) {
        self.configuration = configuration
        currentURL = Mutex(configuration.url)
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: ServerLinkEvent.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var state: ServerLinkState { currentState.withLock { $0 } }

    /// How many connection attempts have failed or ended so far, and why the last one did.
    public var failedAttempts: (count: Int, lastReason: String?) {
        failures.withLock { ($0.count, $0.last) }
    }

    /// How many `PONG`s the link has sent.
    public var pongsSent: Int { pongCount.load(ordering: .relaxed) }

    /// The URL the link connects to.
    public var url: String { currentURL.withLock { $0 } }

    /// Connects to `url` from the next connection on (a registered link stays with its server
    /// until that connection ends), and reconnects now if not registered. A link on `wss://`
    /// never moves to `ws://`: the URL comes from the data path (`SERVER_AVAILABLE`), and
    /// anyone who can publish there could otherwise turn TLS off.
    public func redirect(to url: String) {
        let outcome = currentURL.withLock { current -> (changed: Bool, downgrade: Bool) in
            if Self.isTLS(current) && !Self.isTLS(url) { return (false, true) }
            defer { current = url }
            return (current != url, false)
        }
        if outcome.downgrade {
            logger.error(
                "not following an agent server URL without TLS from one with TLS",
                metadata: ["url": "\(redactingPassword(in: url))"])
            return
        }
        guard outcome.changed else { return }
        logger.notice("agent server URL changed", metadata: ["url": "\(redactingPassword(in: url))"])
        reconnectNow(reason: "redirected to \(redactingPassword(in: url))")
    }

    private static func isTLS(_ url: String) -> Bool { url.lowercased().hasPrefix("wss://") }

    public func reconnectNow(reason: String) {
        if case .registered = state { return }
        logger.info("reconnecting to the agent server now", metadata: ["reason": "\(reason)"])
        wakeUp.signal()
    }

    public func run() async {
        var backoff = Backoff(base: configuration.backoffBase, cap: configuration.backoffCap)
        var reportedRefusal = false
        while !Task.isCancelled {
            currentState.withLock { $0 = .connecting }
            let reason: String
            var refused = false
            var delay: Duration
            do {
                let registered = try await session()
                reason = "connection closed"
                if registered { backoff.reset() }
                // A registration that ended is tried again at once: a restarting server refuses
                // the connection, and refusals are retried quickly.
                delay = registered ? .zero : backoff.next()
            } catch is CancellationError {
                break
            } catch {
                reason = NetworkFailure.describe(error)
                refused = NetworkFailure.isConnectionRefused(error)
                delay = refused ? configuration.refusedRetryDelay : backoff.next()
            }
            let wasRegistered = currentState.withLock { state -> Bool in
                defer { state = .disconnected(reason: reason) }
                if case .registered = state { return true }
                return false
            }
            failures.withLock { $0 = ($0.count + 1, reason) }
            if wasRegistered { continuation.yield(.lost(reason: reason)) }
            if Task.isCancelled { break }
            if !refused || !reportedRefusal {
                // One line while the server is not listening, not one per attempt.
                logger.warning(
                    refused ? "agent server not listening; retrying" : "agent server link down; reconnecting",
                    metadata: ["reason": "\(reason)", "delay": "\(delay)", "url": "\(redactingPassword(in: url))"])
            }
            reportedRefusal = refused
            if delay > .zero { _ = await wakeUp.wait(timeout: delay) }
        }
        currentState.withLock { $0 = .disconnected(reason: "stopped") }
        continuation.finish()
    }

    /// One connection: register, then serve the server's messages. Returns whether it registered.
    private func session() async throws -> Bool {
        let endpoint = try WebSocketEndpoint(url: url)
        var settings = WebSocketConnection.Settings()
        settings.connectTimeout = configuration.connectTimeout
        settings.handshakeTimeout = configuration.registrationTimeout
        settings.maximumMessageSize = configuration.maximumFrameSize
        settings.tls = configuration.tls
        let connection = try await WebSocketConnection.open(endpoint, settings: settings)
        let registered = AtomicFlag()
        // A server that upgrades and then never answers the registration: give up on it.
        let timer = connection.closeIfIdle(after: configuration.registrationTimeout) { registered.isSet }
        defer { timer.cancel() }
        try await connection.run { texts, writer in
            let request = JSONObject([
                (MessageKey.messageType, .string("REGISTER_BROKER")),
                ("broker_name", .string(self.configuration.brokerName)),
            ])
            try await writer.send(JSONWriter.string(.object(request)))
            for try await text in texts {
                switch try await self.handle(text, writer: writer) {
                case .registered: registered.set()
                case .continue: continue
                }
            }
        }
        guard registered.isSet else {
            throw RegistrationError(
                description:
                    "no REGISTER_BROKER_RESPONSE within \(configuration.registrationTimeout) (the server closed the connection or stayed silent)"
            )
        }
        return true
    }

    private enum Step { case registered, `continue` }

    /// A registration the server refused (an `ERROR` reply, or a reply the broker cannot use).
    public struct RegistrationError: Error, CustomStringConvertible {
        public var description: String
    }

    private func handle(_ text: String, writer: WebSocketConnection.TextWriter) async throws -> Step {
        guard case .object(let message)? = try? JSONParser.parse(text) else {
            logger.warning("ignoring a frame that is not a JSON object", metadata: ["frame": "\(text.prefix(200))"])
            return .continue
        }
        let type = message[MessageKey.messageType]?.stringValue ?? ""
        let registered = { if case .registered = self.state { true } else { false } }()
        switch type {
        case "REGISTER_BROKER_RESPONSE":
            let registration = try Self.registration(from: message, brokerName: configuration.brokerName)
            currentState.withLock { $0 = .registered(registration) }
            continuation.yield(.registered(registration))
            logger.info(
                "registered with the agent server",
                metadata: [
                    "broker_id": "\(registration.brokerID)",
                    "grpc": "\(registration.grpcHost):\(registration.grpcPort)",
                ])
            return .registered
        case "ERROR" where !registered:
            throw RegistrationError(
                description: "registration refused: \(message["text_payload"]?.templateText ?? "no reason given")")
        case "ERROR":
            logger.warning(
                "agent server reported an error", metadata: ["text": "\(message["text_payload"]?.templateText ?? "")"])
        case "PING", "SERVER_HEARTBEAT":
            try await writer.send(#"{"message_type":"PONG"}"#)
            pongCount.add(1, ordering: .relaxed)
        case "AGENT_STATUS_UPDATE":
            logger.debug("ignoring AGENT_STATUS_UPDATE on the WebSocket (status comes over gRPC)")
        default:
            logger.info("ignoring a message from the agent server", metadata: ["message_type": "\(type)"])
        }
        return .continue
    }

    /// Reads a `REGISTER_BROKER_RESPONSE`; `grpc_port` may be a string or a number.
    static func registration(from message: JSONObject, brokerName: String) throws -> ServerRegistration {
        guard message["status"]?.stringValue == "success" else {
            throw RegistrationError(
                description: "registration failed: status \(message["status"]?.templateText ?? "missing")")
        }
        guard let brokerID = message["broker_id"]?.stringValue, !brokerID.isEmpty else {
            throw RegistrationError(description: "registration reply has no broker_id")
        }
        let port: Int?
        switch message["grpc_port"] {
        case .string(let s)?: port = Int(s)
        case .number(let n)?:
            // A peer's number is never trusted to fit: 1e300 or 1.5 is not a port, not a crash.
            port = n.doubleValue.flatMap { Int(exactly: $0) }
        default: port = nil
        }
        guard let port, (1...65535).contains(port) else {
            throw RegistrationError(
                description:
                    "registration reply has no usable grpc_port (\(message["grpc_port"]?.templateText ?? "missing"))")
        }
        let host = message["grpc_host"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        return ServerRegistration(
            brokerID: brokerID, brokerName: message["broker_name"]?.stringValue ?? brokerName, grpcHost: host,
            grpcPort: port)
    }
}
