import AgentServerSimulator
import ArgumentParser
import BrokerCore
import Dispatch
import Foundation

/// `broker simulate-server`: a local agent server to try rules and the daemon against.
struct SimulateServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-server",
        abstract: "Run a simulated agent server (WebSocket registration + gRPC agent status) on loopback.",
        discussion: """
            Brokers register at ws://127.0.0.1:<port>/ws exactly as with the real server and
            receive agent status over gRPC. Agents have metrics load (0.0–0.9) and skill
            (billing, support, sales); --churn changes agents' status and load at that rate.
            Stop with Ctrl-C.
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

    func validate() throws {
        guard churnRate != nil else { throw ValidationError("--churn must look like 2/s") }
        guard agents >= 0 else { throw ValidationError("--agents must be 0 or more") }
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

    func run() throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(Self.agentRecords(agents))
        let rate = churnRate ?? 0
        let (port, grpcPort) = (self.port, self.grpcPort)
        do {
            try runToCompletion { try await simulator.start(webSocketPort: port, grpcPort: grpcPort) }
        } catch {
            printError("error: cannot start the simulator: \(error)")
            throw ExitCode(1)
        }
        print("agent server simulator: \(agents) agents, churn \(rate)/s")
        print("  WebSocket: \(simulator.webSocketURL)")
        print("  gRPC:      127.0.0.1:\(simulator.grpcPort)")
        print("  try: WEBSOCKET_URL=\(simulator.webSocketURL) broker run")
        let stop = DispatchSemaphore(value: 0)
        let signals = SignalWatcher(signals: [SIGINT, SIGTERM]) { _, _ in stop.signal() }
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
        stop.wait()
        churnTask.cancel()
        try runToCompletion { await simulator.stop() }
        withExtendedLifetime(signals) {}
        print("stopped")
    }
}
