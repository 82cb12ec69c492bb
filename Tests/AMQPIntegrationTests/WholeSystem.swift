import AMQPTestSupport
import AMQPTransport
import BrokerCore
import BrokerTransports
import Foundation
import TestSupport
import Testing

/// The whole system as separate processes on loopback: `broker-dev simulate-server` with its message
/// path, `broker run`, and a RabbitMQ virtual host of their own, so both use the real queue names.
final class WholeSystem: @unchecked Sendable {
    let vhost: TestRabbitMQ.VirtualHost
    let simulator: ChildProcess
    let controlPort: Int
    let webSocketPort: Int
    var broker: ChildProcess?
    var adminPort = 0
    let rulesFile: URL

    /// Starts the simulator with `agents` agents (changing at `churn`, e.g. `5/s`); the broker is
    /// started separately.
    init(agents: Int = 3, rules: String? = nil, churn: String = "0/s") async throws {
        try TestRabbitMQ.requireReachable()
        vhost = try await TestRabbitMQ.makeVirtualHost()
        controlPort = try freePort()
        webSocketPort = try freePort()
        let grpcPort = try freePort()
        rulesFile = temporaryPath("rules.yaml")
        let text =
            try rules
            ?? String(contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8)
        try text.write(to: rulesFile, atomically: true, encoding: .utf8)
        simulator = try ChildProcess(
            "simulator", executable: brokerDevExecutable,
            arguments: [
                "simulate-server", "--agents", "\(agents)", "--churn", churn, "--port", "\(webSocketPort)",
                "--grpc-port", "\(grpcPort)", "--control-port", "\(controlPort)", "--rabbitmq", vhost.url,
            ])
        let simulator = self.simulator
        try await eventually("the simulator is up", timeout: .seconds(30)) {
            guard simulator.isRunning else { throw SystemError("the simulator exited\n\(simulator.tail())") }
            return (try? await self.status().listening) ?? false
        }
    }

    struct SystemError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Starts `broker run` against the simulator and the virtual host (`BROKER_UNDER_TEST` names
    /// another broker binary, e.g. an older build, to check that these tests fail on it).
    func startBroker(_ extra: [String] = [], adminHost: String = "127.0.0.1") throws {
        adminPort = try freePort()
        let binary = ProcessInfo.processInfo.environment["BROKER_UNDER_TEST"].map { URL(fileURLWithPath: $0) }
        broker = try ChildProcess(
            "broker", executable: binary ?? brokerExecutable,
            arguments: [
                "run", "--rules", rulesFile.path, "--websocket-url", "ws://127.0.0.1:\(webSocketPort)/ws",
                "--admin-address", "\(adminHost):\(adminPort)", "--log-level", "info",
            ] + extra,
            environment: ["RABBITMQ_URL": vhost.url])
    }

    /// Whether the broker's `/readyz` says ready.
    func brokerReady() async -> Bool {
        await http("GET", "http://127.0.0.1:\(adminPort)/readyz", timeout: 1).status == 200
    }

    /// What the simulator reports.
    struct Status {
        var listening: Bool
        var listeningSince: Date?
        var restarts: Int
        var agents: [(id: String, online: Bool)]
        var messages: [String: Int]
    }

    func status() async throws -> Status {
        let (code, body) = await http("GET", "http://127.0.0.1:\(controlPort)/status", timeout: 2)
        guard code == 200, case .object(let object)? = try? JSONParser.parse(body) else {
            throw SystemError("no status from the simulator (HTTP \(code))")
        }
        var messages: [String: Int] = [:]
        if case .object(let counts)? = object["messages"] {
            for entry in counts { messages[entry.key] = entry.value.numberValue.map { Int($0) } }
        }
        var agents: [(String, Bool)] = []
        if case .array(let items)? = object["agents"] {
            for case .object(let agent) in items {
                agents.append((agent["agent_id"]?.stringValue ?? "", agent["is_online"]?.boolValue ?? false))
            }
        }
        return Status(
            listening: object["listening"]?.boolValue ?? false,
            listeningSince: object["listening_since"]?.numberValue.map(Date.init(timeIntervalSince1970:)),
            restarts: object["restarts"]?.numberValue.map { Int($0) } ?? 0, agents: agents, messages: messages)
    }

    /// Asks the simulator to restart with `outage` seconds down. As the real server (the
    /// default), it comes back empty and the connected agents reconnect under new ids within
    /// `spread` seconds, the fraction `neverReturn` of them never; `mode: "same-agents"` brings
    /// them all back at once.
    func restartServer(
        outage: Double, mode: String = "empty", spread: Double = 5, neverReturn: Double = 0
    ) async throws {
        let query = "outage=\(outage)&mode=\(mode)&spread=\(spread)&never_return=\(neverReturn)"
        let (code, body) = await http("POST", "http://127.0.0.1:\(controlPort)/restart?\(query)")
        try #require(code == 200, "restart refused: \(body)")
    }

    func setOnline(_ id: String, _ online: Bool) async throws {
        let (code, body) = await http(
            "POST", "http://127.0.0.1:\(controlPort)/agents/\(id)/\(online ? "online" : "offline")")
        try #require(code == 200, "cannot change \(id): \(body)")
    }

    /// Messages waiting in every agent queue of these agents.
    func agentQueueCounts(_ ids: [String]) throws -> Int {
        try ids.reduce(0) { $0 + (try vhost.count("agent_queue_\($1)")) }
    }

    /// Process output for failure messages.
    var logs: String { [simulator.tail(), broker?.tail() ?? ""].joined(separator: "\n") }

    func stop() async {
        await broker?.stop()
        await simulator.stop()
        vhost.delete()
        try? FileManager.default.removeItem(at: rulesFile)
    }
}

extension JSONValue {
    /// A number value as a Double.
    var numberValue: Double? {
        if case .number(let n) = self { return n.doubleValue }
        return nil
    }
}

/// Runs `body` with a whole system and always stops its processes and deletes its virtual host.
func withWholeSystem(
    agents: Int = 3, rules: String? = nil, churn: String = "0/s", _ body: (WholeSystem) async throws -> Void
) async throws {
    let system = try await WholeSystem(agents: agents, rules: rules, churn: churn)
    do {
        try await body(system)
    } catch {
        Issue.record("\(error)\n\(system.logs)")
        await system.stop()
        throw error
    }
    await system.stop()
}

/// A TEXT message body.
func text(_ id: String, from sender: String, to receiver: String? = nil) -> [UInt8] {
    let to = receiver.map { #","receiver_id":"\#($0)""# } ?? ""
    return Array(
        #"{"message_type":"TEXT","sender_id":"\#(sender)"\#(to),"message_id":"\#(id)","text_payload":"hello","routing_status":"pending"}"#
            .utf8)
}
