import BrokerCore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// An HTTP control endpoint for a simulator running as its own process, so tests and people can
/// drive it: `GET /status`, `POST /restart?outage=SECONDS` (with `mode=empty|same-agents`,
/// `spread=SECONDS` and `never_return=FRACTION`, see ``RestartBehaviour``), `POST /agents/ID/online`,
/// `POST /agents/ID/offline`. It stays up while the simulated server is down.
public final class SimulatorControl: Sendable {
    private let simulator: AgentServerSimulator
    private let running = Mutex<ListeningServer?>(nil)
    private let restarting = Mutex<Task<Void, Never>?>(nil)

    public init(simulator: AgentServerSimulator) { self.simulator = simulator }

    /// The bound port.
    public var port: Int { running.withLock { $0?.port ?? 0 } }

    /// Starts listening on 127.0.0.1:`port` (0: any free port); throws when it cannot bind.
    public func start(port: Int) async throws {
        let router = Router()
        let simulator = self.simulator
        router.get("status") { _, _ in Self.json(Self.status(simulator)) }
        router.post("restart") { request, _ in
            let outage = request.uri.queryParameters.get("outage", as: Double.self) ?? 5
            guard outage >= 0, outage <= 3600 else {
                return Self.json(.object(JSONObject([("error", .string("outage must be 0…3600 s"))])), .badRequest)
            }
            let query = request.uri.queryParameters
            let behaviour: RestartBehaviour
            do {
                behaviour = try RestartBehaviour(
                    mode: query.get("mode") ?? "empty", spreadSeconds: query.get("spread", as: Double.self) ?? 10,
                    neverReturn: query.get("never_return", as: Double.self) ?? 0)
            } catch {
                return Self.json(.object(JSONObject([("error", .string("\(error)"))])), .badRequest)
            }
            self.restarting.withLock { task in
                task = Task {
                    do {
                        try await simulator.restart(outage: .milliseconds(Int(outage * 1000)), behaviour: behaviour)
                    } catch {
                        Logger(label: "simulator.control").error("restart failed", metadata: ["error": "\(error)"])
                    }
                }
            }
            return Self.json(
                .object(JSONObject([("restarting", .bool(true)), ("outage_seconds", .number(JSONNumber(outage)))])))
        }
        router.post("agents/:id/:state") { _, context in
            let id = context.parameters.get("id") ?? ""
            let state = context.parameters.get("state") ?? ""
            guard state == "online" || state == "offline" else {
                return Self.json(.object(JSONObject([("error", .string("use /online or /offline"))])), .badRequest)
            }
            guard simulator.agents.contains(where: { $0.agentID == id }) else {
                return Self.json(.object(JSONObject([("error", .string("unknown agent \(id)"))])), .notFound)
            }
            simulator.setOnline(id, state == "online")
            return Self.json(Self.status(simulator))
        }
        var logger = Logger(label: "simulator.control")
        logger.logLevel = .warning
        let server = try await ListeningServer.start(logger: logger) { onServerRunning in
            Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                onServerRunning: onServerRunning, logger: logger)
        }
        running.withLock { $0 = server }
    }

    /// Stops the control server (and waits for a restart in progress).
    public func stop() async {
        await restarting.withLock { $0 }?.value
        await running.withLock({ r in
            defer { r = nil }
            return r
        })?.stop()
    }

    static func status(_ simulator: AgentServerSimulator) -> JSONValue {
        let lifecycle = simulator.status
        var object = JSONObject([
            ("listening", .bool(lifecycle.listening)),
            (
                "listening_since",
                lifecycle.listeningSince.map { .number(JSONNumber($0.timeIntervalSince1970)) } ?? .null
            ),
            ("restarts", .number(JSONNumber(lifecycle.restarts))),
            ("websocket_url", .string(simulator.webSocketURL)), ("grpc_port", .number(JSONNumber(simulator.grpcPort))),
            ("registrations", .number(JSONNumber(simulator.registrations))),
            (
                "agents",
                .array(
                    simulator.agents.map {
                        .object(JSONObject([("agent_id", .string($0.agentID)), ("is_online", .bool($0.isOnline))]))
                    })
            ),
        ])
        if let counts = simulator.messagePath?.counts {
            object["messages"] = .object(
                JSONObject([
                    ("delivered", .number(JSONNumber(counts.delivered))),
                    ("dropped_unknown", .number(JSONNumber(counts.droppedUnknown))),
                    ("dropped_offline_errors", .number(JSONNumber(counts.droppedOfflineErrors))),
                    ("errors_returned", .number(JSONNumber(counts.errorsReturned))),
                    ("republished", .number(JSONNumber(counts.republished))),
                    ("invalid", .number(JSONNumber(counts.invalid))),
                ]))
        }
        return .object(object)
    }

    static func json(_ value: JSONValue, _ status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(value) + [0x0A])))
    }
}
