import BrokerCore
import BrokerTransports
import Foundation
import Logging
import Synchronization
import WSClient

/// The broker's registration with the agent server over WebSocket.
///
/// Connects to `WEBSOCKET_URL`, sends `REGISTER_BROKER`, reads `REGISTER_BROKER_RESPONSE`
/// (`grpc_port` as a string or a number), answers `PING` and `SERVER_HEARTBEAT` with `PONG`, and
/// logs and ignores everything else. When the socket drops, or registration is refused, it
/// reconnects with exponential backoff and jitter and registers again; every successful
/// registration (a new broker id, perhaps a new gRPC endpoint) is published on
/// ``registrations`` so the status feed can resubscribe.
public final class WebSocketServerLink: Sendable {
    /// Link settings.
    public struct Configuration: Sendable {
        /// The server's WebSocket URL (`ws://` or `wss://`).
        public var url = "ws://localhost:8765/ws"
        /// The name the broker registers under.
        public var brokerName = "broker"
        /// Reconnect backoff: first delay and cap.
        public var backoffBase: Duration = .milliseconds(500)
        public var backoffCap: Duration = .seconds(30)
        /// Largest frame accepted from the server.
        public var maximumFrameSize = 1 << 20

        public init() {}
    }

    /// Where the link stands.
    public enum State: Sendable, Hashable {
        case connecting
        case registered(ServerRegistration)
        case disconnected(reason: String)
    }

    /// Successful registrations, newest last.
    public let registrations: AsyncStream<ServerRegistration>
    private let continuation: AsyncStream<ServerRegistration>.Continuation
    private let configuration: Configuration
    private let logger: Logger
    private let currentState = Mutex(State.disconnected(reason: "not started"))
    private let pongCount = Atomic(0)

    public init(configuration: Configuration, logger: Logger = Logger(label: "broker.server-link")) {
        self.configuration = configuration
        self.logger = logger
        (registrations, continuation) = AsyncStream.makeStream(
            of: ServerRegistration.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The link's state now.
    public var state: State { currentState.withLock { $0 } }

    /// How many `PONG`s the link has sent.
    public var pongsSent: Int { pongCount.load(ordering: .relaxed) }

    /// Connects, registers, and keeps doing so until the task is cancelled.
    public func run() async {
        var backoff = Backoff(base: configuration.backoffBase, cap: configuration.backoffCap)
        while !Task.isCancelled {
            currentState.withLock { $0 = .connecting }
            let reason: String
            do {
                let registered = try await session()
                reason = "connection closed"
                if registered { backoff.reset() }
            } catch is CancellationError {
                break
            } catch {
                reason = "\(error)"
            }
            currentState.withLock { $0 = .disconnected(reason: reason) }
            if Task.isCancelled { break }
            let delay = backoff.next()
            logger.warning(
                "agent server link down; reconnecting",
                metadata: ["reason": "\(reason)", "delay": "\(delay)", "url": "\(configuration.url)"])
            try? await Task.sleep(for: delay)
        }
        currentState.withLock { $0 = .disconnected(reason: "stopped") }
        continuation.finish()
    }

    /// One connection: register, then serve the server's messages. Returns whether it registered.
    private func session() async throws -> Bool {
        let registeredFlag = Atomic(false)
        try await WebSocketClient.connect(url: configuration.url, logger: logger) { inbound, outbound, _ in
            let request = JSONObject([
                (MessageKey.messageType, .string("REGISTER_BROKER")),
                ("broker_name", .string(self.configuration.brokerName)),
            ])
            try await outbound.write(.text(JSONWriter.string(.object(request))))
            for try await message in inbound.messages(maxSize: self.configuration.maximumFrameSize) {
                guard case .text(let text) = message else {
                    self.logger.warning("ignoring a binary frame from the agent server")
                    continue
                }
                switch try await self.handle(text, outbound: outbound) {
                case .registered: registeredFlag.store(true, ordering: .relaxed)
                case .continue: continue
                }
            }
        }
        return registeredFlag.load(ordering: .relaxed)
    }

    private enum Step { case registered, `continue` }

    /// A registration the server refused (an `ERROR` reply, or a reply the broker cannot use).
    public struct RegistrationError: Error, CustomStringConvertible {
        public var description: String
    }

    private func handle(_ text: String, outbound: WebSocketOutboundWriter) async throws -> Step {
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
            logger.info(
                "registered with the agent server",
                metadata: [
                    "broker_id": "\(registration.brokerID)",
                    "grpc": "\(registration.grpcHost):\(registration.grpcPort)",
                ])
            continuation.yield(registration)
            return .registered
        case "ERROR" where !registered:
            throw RegistrationError(
                description: "registration refused: \(message["text_payload"]?.templateText ?? "no reason given")")
        case "ERROR":
            logger.warning(
                "agent server reported an error", metadata: ["text": "\(message["text_payload"]?.templateText ?? "")"])
        case "PING", "SERVER_HEARTBEAT":
            try await outbound.write(.text(#"{"message_type":"PONG"}"#))
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
        case .number(let n)?: port = n.doubleValue.map { Int($0) }
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
