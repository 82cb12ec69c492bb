import AMQPTransport
import AgentServerSimulator
import ArgumentParser
import BrokerCLISupport
import BrokerCore
import Foundation
import UnixSignals

/// `broker-dev simulate-server`: a local agent server to try rules and the daemon against.
public struct SimulateServer: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "simulate-server",
        abstract: "Run a simulated agent server (WebSocket registration + gRPC agent status) on loopback.",
        discussion: """
            Brokers register at ws://127.0.0.1:<port>/ws exactly as with the real server and receive agent status over gRPC. Agents have metrics load (0.0–0.9) and skill (billing, support, sales); --churn changes agents' status and load at that rate.

            With --rabbitmq URL the simulator also does what the server does with messages: it consumes server_input_queue, delivers to agent_queue_<id> for an online agent, sends an ERROR back for an offline one, drops (and logs) messages for receivers it does not know, republishes messages whose routing_status is "pending" to broker_input_queue, and announces itself with SERVER_AVAILABLE on server_advertisement_queue when it starts.

            --restart-after restarts the whole server once: it goes away for --outage seconds and forgets its agents. As the real server, it comes back empty (--restart-mode empty): the agents that were connected reconnect one by one under new ids within --reconnect-spread seconds, and the fraction --never-return of them never does. --restart-mode same-agents brings every agent back at once under new ids (kinder than the real server). --control-port serves GET /status, POST /restart?outage=SECONDS[&mode=empty|same-agents&spread=SECONDS&never_return=FRACTION] and POST /agents/ID/online|offline on loopback for scripts and tests. Stop with Ctrl-C.
            """
    )

    @Option(help: "Number of simulated agents.")
    var agents = 50

    @Option(help: "Changes per second, as N/s (0/s for none).")
    var churn = "2/s"

    @Option(help: "WebSocket port (0: any free port).")
    var port = 8765

    @Option(name: .customLong("grpc-port"), help: "gRPC port (0: any free port).")
    var grpcPort = 50051

    @Option(help: "RabbitMQ URL: also run the server's message path (amqp://user:password@host:port/vhost).")
    var rabbitmq: String?

    @Option(help: "Control HTTP port on 127.0.0.1 (0: any free port; omit for none).")
    var controlPort: Int?

    @Option(help: "Restart the server once after this many seconds.")
    var restartAfter: Double?

    @Option(help: "Seconds the server stays down when it restarts.")
    var outage: Double = 5

    @Option(help: "What agents do when the server restarts: empty (the real server's way) or same-agents.")
    var restartMode = "empty"

    @Option(help: "Seconds after a restart within which the agents that come back reconnect, one by one.")
    var reconnectSpread: Double = 10

    @Option(help: "Fraction (0-1) of the connected agents that never reconnect after a restart.")
    var neverReturn: Double = 0

    public func validate() throws {
        guard churnRate != nil else { throw ValidationError("--churn must look like 2/s") }
        guard agents >= 0 else { throw ValidationError("--agents must be 0 or more") }
        guard outage >= 0, (restartAfter ?? 0) >= 0 else {
            throw ValidationError("--outage and --restart-after must be 0 or more")
        }
        _ = try restartBehaviour
    }

    var restartBehaviour: RestartBehaviour {
        get throws {
            try RestartBehaviour(mode: restartMode, spreadSeconds: reconnectSpread, neverReturn: neverReturn)
        }
    }

    var churnRate: Double? {
        guard churn.hasSuffix("/s"), let value = Double(churn.dropLast(2)), value >= 0 else { return nil }
        return value
    }

    static func agentRecords(_ count: Int) -> [AgentStatusRecord] {
        let skills = ["billing", "support", "sales"]
        return (0..<count).map { i in
            AgentStatusRecord(
                agentID: String(format: "agent_%08x", UInt32(truncatingIfNeeded: StableHash.hash("sim-\(i)"))),
                agentName: "Agent \(i + 1)", isOnline: true, lastSeen: ISO8601DateFormatter().string(from: Date()),
                metrics: ["load": String(format: "%.1f", Double(i % 10) / 10), "skill": skills[i % skills.count]])
        }
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let amqp: AMQPConfiguration?
        do {
            amqp = try rabbitmq.map { try AMQPConfiguration(url: $0) }
        } catch {
            printError("error: \(error)")
            throw ExitCode(Status.usage)
        }
        let simulator = AgentServerSimulator(rabbitmq: amqp)
        simulator.setAgents(Self.agentRecords(agents))
        let control = SimulatorControl(simulator: simulator)
        let rate = churnRate ?? 0
        let (port, grpcPort, controlPort) = (self.port, self.grpcPort, self.controlPort)
        do {
            try await simulator.start(webSocketPort: port, grpcPort: grpcPort)
            if let controlPort { try await control.start(port: controlPort) }
        } catch {
            printError("error: cannot start the simulator: \(error)")
            await simulator.stop()
            throw ExitCode(1)
        }
        say("agent server simulator: \(agents) agents, churn \(rate)/s")
        say("  WebSocket: \(simulator.webSocketURL)")
        say("  gRPC:      127.0.0.1:\(simulator.grpcPort)")
        if let amqp { say("  messages:  server_input_queue on \(amqp)") }
        if controlPort != nil { say("  control:   http://127.0.0.1:\(control.port)/status") }
        say("  try: WEBSOCKET_URL=\(simulator.webSocketURL) broker run")
        let churnTask = Task {
            guard rate > 0 else { return }
            var random = SystemRandomNumberGenerator()
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1 / rate))
                let current = simulator.agents
                guard let agent = current.randomElement(using: &random) else { continue }
                if Bool.random(using: &random) {
                    simulator.setOnline(agent.agentID, !agent.isOnline)
                } else {
                    simulator.setMetric(
                        agent.agentID, "load", String(format: "%.1f", Double.random(in: 0..<1, using: &random)))
                }
            }
        }
        let (restartAfter, outage, behaviour) = (self.restartAfter, self.outage, try restartBehaviour)
        let restartTask = Task {
            guard let restartAfter else { return }
            try? await Task.sleep(for: .milliseconds(Int(restartAfter * 1000)))
            guard !Task.isCancelled else { return }
            say("restarting: down for \(outage) s, then \(behaviour)")
            do {
                try await simulator.restart(outage: .milliseconds(Int(outage * 1000)), behaviour: behaviour)
                say("back: \(simulator.agents.count) agents so far")
            } catch {
                printError("error: restart failed: \(error)")
            }
        }
        for await _ in signals { break }
        churnTask.cancel()
        restartTask.cancel()
        await control.stop()
        await simulator.stop()
        say("stopped")
    }
}
