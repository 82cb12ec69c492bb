import AMQPTransport
import AgentStatusGRPC
import BrokerCore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// A real agent server on loopback, for tests, the demo and trying rules locally.
///
/// It speaks both sides exactly like the original server: WebSocket `/ws` registration (a
/// server-assigned `broker_…` id, `grpc_host`, and `grpc_port` as a string) with `PING`s, and
/// the `AgentStatusService` gRPC service (a full list first, then updates). With a message path
/// (``SimulatedMessagePath``, on RabbitMQ) it also delivers, bounces and republishes messages as
/// the server does. A Swift API adds and removes agents, changes metrics, drops streams, refuses
/// registration, restarts gRPC on a new port, and restarts the whole server
/// (``restart(outage:behaviour:)``): it goes away, forgets its agents, and comes back on the same
/// ports **empty**, as the original server does; its agents reconnect one by one with new ids
/// over a spread of time, and some never do (``RestartBehaviour``).
public final class AgentServerSimulator: Sendable {
    private let state = SimulatorState()
    private let logger: Logger
    private let webSocketServer = Mutex<ListeningServer?>(nil)
    private let grpc = Mutex<(server: GRPCServer<HTTP2ServerTransport.Posix>, task: Task<Void, any Error>)?>(nil)
    private let boundWebSocketPort = Mutex(0)
    private let lifecycle = Mutex(Lifecycle())
    /// Agents coming back after a restart.
    private let reconnecting = Mutex<Task<Void, Never>?>(nil)
    /// The message path on RabbitMQ, when the simulator has one.
    public let messagePath: SimulatedMessagePath?

    /// Whether the server is up, and its restarts.
    public struct Lifecycle: Sendable, Hashable {
        public var listening = false
        /// When the server last started listening.
        public var listeningSince: Date?
        public var restarts = 0
        /// Ports to come back on after a restart.
        var webSocketPort = 0
        var grpcPort = 0
    }

    /// The certificate (PEM chain) and private key (PEM) a simulator serves `wss://` and gRPC
    /// over TLS with.
    public struct TLSIdentity: Sendable, Hashable {
        public var certificateChainPath: String
        public var privateKeyPath: String

        public init(certificateChainPath: String, privateKeyPath: String) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// With an identity, WebSocket and gRPC are served over TLS only.
    public let tls: TLSIdentity?

    /// A simulator; with `rabbitmq`, it also runs the server's message path on that RabbitMQ;
    /// with `tls`, it serves `wss://` and gRPC over TLS with that identity.
    public init(
        rabbitmq: AMQPConfiguration? = nil, tls: TLSIdentity? = nil, logger: Logger = Logger(label: "simulator")
    ) {
        self.logger = logger
        self.tls = tls
        let state = self.state
        messagePath = rabbitmq.map { amqp in
            SimulatedMessagePath(amqp: amqp) { id in state.values.withLock { $0.agents[id] } }
        }
    }

    /// Whether the server listens now, and since when.
    public var status: Lifecycle { lifecycle.withLock { $0 } }

    /// The WebSocket URL brokers register at.
    public var webSocketURL: String { "\(tls == nil ? "ws" : "wss")://127.0.0.1:\(webSocketPort)/ws" }
    /// The bound WebSocket port.
    public var webSocketPort: Int { boundWebSocketPort.withLock { $0 } }
    /// The gRPC port given to brokers (0 while gRPC is stopped).
    public var grpcPort: Int { state.values.withLock { $0.grpcPort } }

    /// Starts both servers (port 0: any free port) and returns when both listen. A port that is
    /// taken is tried again for `retryingFor` (a restart rebinding the ports it just closed).
    public func start(
        webSocketPort: Int = 0, grpcPort: Int = 0, startGRPC: Bool = true, retryingFor: Duration = .zero
    ) async throws {
        if startGRPC { try await self.startGRPC(port: grpcPort, retryingFor: retryingFor) }
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/ws") { inbound, outbound, _ in
            try await self.serveBroker(inbound: inbound, outbound: outbound)
        }
        let logger = self.logger
        var builder: HTTPServerBuilder = .http1WebSocketUpgrade(webSocketRouter: router)
        if let tls {
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificateChainPath).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.privateKeyPath, format: .pem)))
            builder = try .tls(builder, tlsConfiguration: configuration)
        }
        let server = try await ListeningServer.start(retryingFor: retryingFor, logger: logger) {
            onServerRunning in
            Application(
                router: Router(),
                server: builder,
                configuration: .init(address: .hostname("127.0.0.1", port: webSocketPort)),
                onServerRunning: onServerRunning, logger: logger)
        }
        webSocketServer.withLock { $0 = server }
        boundWebSocketPort.withLock { $0 = server.port }
        let (bound, boundGRPC) = (self.webSocketPort, self.grpcPort)
        // Brokers can connect from here on.
        lifecycle.withLock {
            $0.listeningSince = Date()
            $0.webSocketPort = bound
            if boundGRPC != 0 { $0.grpcPort = boundGRPC }
        }
        if let messagePath {
            try messagePath.declareAgentQueues(agents.map(\.agentID))
            try await messagePath.start(webSocketURL: webSocketURL)
        }
        lifecycle.withLock { $0.listening = true }
    }

    /// Restarts the whole server: every connection drops, nothing listens for `outage`, the
    /// server forgets its agents, and it comes back on the same ports, announcing itself with
    /// `SERVER_AVAILABLE`. What its agents do then is `behaviour`'s: by default, as the real
    /// server, it comes back empty and they reconnect later under new ids.
    public func restart(outage: Duration, behaviour: RestartBehaviour = .empty()) async throws {
        let ports = lifecycle.withLock { ($0.webSocketPort, $0.grpcPort) }
        await stop()
        lifecycle.withLock { $0.restarts += 1 }
        let returning = state.values.withLock { v -> [AgentStatusRecord] in
            let known = v.agentOrder.compactMap { v.agents[$0] }
            let connected = known.filter(\.isOnline)
            switch behaviour {
            case .sameAgents:
                v.agentOrder = []
                v.agents = [:]
                for var record in known {
                    record.agentID = Self.newAgentID()
                    v.agents[record.agentID] = record
                    v.agentOrder.append(record.agentID)
                }
                return []
            case .empty(_, let neverReturn):
                v.agentOrder = []
                v.agents = [:]
                let lost = Int((Double(connected.count) * neverReturn).rounded())
                return Array(connected.shuffled().dropFirst(lost))
            }
        }
        logger.notice("simulated server down", metadata: ["outage": "\(outage)", "restart": "\(behaviour)"])
        try await Task.sleep(for: outage)
        // The ports it just closed may be busy for a moment still.
        try await start(webSocketPort: ports.0, grpcPort: ports.1, retryingFor: .seconds(5))
        logger.notice("simulated server back", metadata: ["agents": "\(agents.count)"])
        if case .empty(let spread, _) = behaviour, !returning.isEmpty {
            reconnect(returning, over: spread)
        }
    }

    /// Agents come back after a restart at random moments within `spread` of the server
    /// listening, one by one, each under a new id (as a new WebSocket connection gets one).
    private func reconnect(_ records: [AgentStatusRecord], over spread: Duration) {
        let moments = records.map { _ in Double.random(in: 0...max(0, spread.seconds)) }.sorted()
        let started = ContinuousClock.now
        let task = Task { [self] in
            for (record, moment) in zip(records, moments) {
                try? await Task.sleep(until: started + .milliseconds(Int(moment * 1000)), clock: .continuous)
                guard !Task.isCancelled else { return }
                var back = record
                back.agentID = Self.newAgentID()
                back.isOnline = true
                back.lastSeen = ISO8601DateFormatter().string(from: Date())
                upsert(back)
                logger.info("agent reconnected", metadata: ["agent": "\(back.agentID)", "name": "\(back.agentName)"])
            }
        }
        reconnecting.withLock { $0 = task }
    }

    /// A fresh agent id, as the server assigns when an agent connects.
    static func newAgentID() -> String {
        "agent_" + String(UInt32.random(in: 0...UInt32.max), radix: 16).leftPadded8
    }

    /// Stops the server as a graceful shutdown does: it stops accepting brokers, drops their
    /// connections and status streams, closes its listeners, and then the message path delivers
    /// what is already in `server_input_queue` (for half a second at least, at most 2 s) and
    /// stops.
    public func stop() async {
        reconnecting.withLock { task in
            task?.cancel()
            task = nil
        }
        lifecycle.withLock { $0.listening = false }
        state.values.withLock { $0.shuttingDown = true }
        defer { state.values.withLock { $0.shuttingDown = false } }
        await disconnectBrokers()
        await stopGRPC()
        await webSocketServer.withLock({ s in
            defer { s = nil }
            return s
        })?.stop()
        await messagePath?.stop(grace: .milliseconds(500), draining: .seconds(2))
    }

    /// Starts the gRPC service (port 0: any free port); new registrations get this port.
    public func startGRPC(port: Int = 0, retryingFor: Duration = .zero) async throws {
        let deadline = ContinuousClock.now + retryingFor
        while true {
            let security: HTTP2ServerTransport.Posix.TransportSecurity =
                tls.map {
                    .tls(
                        certificateChain: [.file(path: $0.certificateChainPath, format: .pem)],
                        privateKey: .file(path: $0.privateKeyPath, format: .pem))
                } ?? .plaintext
            let transport = HTTP2ServerTransport.Posix(
                address: .ipv4(host: "127.0.0.1", port: port), transportSecurity: security)
            let server = GRPCServer(transport: transport, services: [SimulatedStatusService(state: state)])
            let task = Task { try await server.serve() }
            do {
                guard let bound = try await transport.listeningAddress.ipv4?.port else {
                    throw RPCError(code: .internalError, message: "the gRPC server did not bind an IPv4 port")
                }
                grpc.withLock { $0 = (server, task) }
                state.values.withLock { $0.grpcPort = bound }
                return
            } catch {
                task.cancel()
                guard port != 0, ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Stops the gRPC service (status streams end with an error).
    public func stopGRPC() async {
        state.dropStreams()
        guard
            let running = grpc.withLock({ g in
                defer { g = nil }; return g
            })
        else { return }
        running.server.beginGracefulShutdown()
        _ = try? await running.task.value
        state.values.withLock { $0.grpcPort = 0 }
    }

    /// Stops gRPC and starts it again on another port.
    public func restartGRPC(port: Int = 0) async throws {
        await stopGRPC()
        try await startGRPC(port: port)
    }

    // MARK: - Agents

    /// Replaces the agent list; streams get the full list.
    public func setAgents(_ records: [AgentStatusRecord]) {
        state.values.withLock { v in
            v.agentOrder = records.map(\.agentID)
            v.agents = Dictionary(records.map { ($0.agentID, $0) }, uniquingKeysWith: { _, last in last })
        }
        state.broadcast(state.fullList)
    }

    /// Adds or changes one agent; streams get a partial update.
    public func upsert(_ record: AgentStatusRecord) {
        state.values.withLock { v in
            if v.agents[record.agentID] == nil { v.agentOrder.append(record.agentID) }
            v.agents[record.agentID] = record
        }
        state.broadcast(AgentStatusUpdate(agents: [record], isFullUpdate: false))
    }

    /// Sets one metric of an agent.
    public func setMetric(_ agentID: String, _ key: String, _ value: String) {
        guard var record = state.values.withLock({ $0.agents[agentID] }) else { return }
        record.metrics[key] = value
        upsert(record)
    }

    /// Marks an agent online or offline.
    public func setOnline(_ agentID: String, _ online: Bool) {
        guard var record = state.values.withLock({ $0.agents[agentID] }) else { return }
        record.isOnline = online
        upsert(record)
    }

    /// Removes an agent from the server's list; streams get the full list (without it).
    public func remove(_ agentID: String) {
        state.values.withLock { v in
            v.agents[agentID] = nil
            v.agentOrder.removeAll { $0 == agentID }
        }
        state.broadcast(state.fullList)
    }

    /// The current agent list.
    public var agents: [AgentStatusRecord] { state.fullList.agents }

    /// Sends a raw update to every stream (for records the broker must reject).
    public func sendRaw(_ update: AgentStatusUpdate) { state.broadcast(update) }

    // MARK: - Faults and observations

    /// Ends every status stream with an error.
    public func dropStreams() { state.dropStreams() }

    /// Refuse (or accept again) broker registrations with an `ERROR` reply.
    public func refuseRegistrations(_ refuse: Bool) { state.values.withLock { $0.refuseRegistration = refuse } }

    /// Accept status subscriptions and never send their first list (or, `false`, behave again).
    public func withholdFirstList(_ withhold: Bool) { state.values.withLock { $0.withholdFirstList = withhold } }

    /// Leave `grpc_port` out of registration replies (a broken server).
    public func omitGRPCPort(_ omit: Bool) { state.values.withLock { $0.omitGRPCPort = omit } }

    /// Send `value` as `grpc_port` in registration replies (a hostile server: `1e300`, `-1`, …);
    /// `nil` sends the real port again.
    public func replyGRPCPort(_ value: JSONValue?) { state.values.withLock { $0.grpcPortReply = value } }

    /// Sends a text frame to every registered broker.
    public func sendToBrokers(_ text: String) async {
        for writer in state.values.withLock({ Array($0.brokers.values) }) { try? await writer.write(.text(text)) }
    }

    /// Closes every broker's WebSocket.
    public func disconnectBrokers() async {
        let writers = state.values.withLock { v -> [WebSocketOutboundWriter] in
            defer { v.brokers.removeAll() }
            return Array(v.brokers.values)
        }
        for writer in writers { try? await writer.close(.goingAway, reason: "simulator disconnect") }
    }

    /// Registrations accepted so far.
    public var registrations: Int { state.values.withLock { $0.registrations } }
    /// Broker ids that subscribed to the status stream, in order.
    public var subscribedBrokerIDs: [String] { state.values.withLock { $0.subscribedBrokerIDs } }
    /// Open status streams.
    public var openStreams: Int { state.values.withLock { $0.subscribers.count } }
    /// `GetAgentStatus` calls served.
    public var statusCalls: Int { state.values.withLock { $0.statusCalls } }
    /// `PONG`s received.
    public var pongs: Int { state.values.withLock { $0.pongs } }

    // MARK: - WebSocket side

    private func serveBroker(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        var brokerID: String?
        defer { if let brokerID { _ = state.values.withLock { $0.brokers.removeValue(forKey: brokerID) } } }
        for try await message in inbound.messages(maxSize: 1 << 20) {
            guard case .text(let text) = message, case .object(let object)? = try? JSONParser.parse(text) else {
                continue
            }
            switch object[MessageKey.messageType]?.stringValue {
            case "REGISTER_BROKER":
                let (refuse, omitPort, port, shuttingDown, portReply) = state.values.withLock {
                    ($0.refuseRegistration, $0.omitGRPCPort, $0.grpcPort, $0.shuttingDown, $0.grpcPortReply)
                }
                if shuttingDown {
                    try await outbound.close(.goingAway, reason: "shutting down")
                    return
                }
                if refuse {
                    try await outbound.write(
                        .text(#"{"message_type":"ERROR","text_payload":"Registration refused by the simulator"}"#))
                    try await outbound.close(.policyViolation, reason: "refused")
                    return
                }
                let id = "broker_" + String(UInt32.random(in: 0...UInt32.max), radix: 16).leftPadded8
                let name = object["broker_name"]?.stringValue ?? ""
                var reply = JSONObject([
                    (MessageKey.messageType, .string("REGISTER_BROKER_RESPONSE")), ("status", .string("success")),
                    ("broker_id", .string(id)), ("broker_name", .string(name)),
                    ("message", .string("Broker registered successfully")), ("grpc_host", .string("127.0.0.1")),
                ])
                if !omitPort { reply["grpc_port"] = portReply ?? .string(String(port)) }
                reply["use_grpc_for_agent_status"] = .bool(true)
                state.values.withLock { v in
                    v.registrations += 1
                    v.brokers[id] = outbound
                }
                brokerID = id
                try await outbound.write(.text(JSONWriter.string(.object(reply))))
            case "PONG":
                state.values.withLock { $0.pongs += 1 }
            default:
                continue
            }
        }
    }
}

extension String {
    fileprivate var leftPadded8: String { count >= 8 ? self : String(repeating: "0", count: 8 - count) + self }
}
