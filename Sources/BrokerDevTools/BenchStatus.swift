import AgentServerSimulator
import AgentStatusGRPC
import ArgumentParser
import BrokerCLISupport
import BrokerCore
import BrokerTransports
import Dispatch
import Foundation
import Histogram
import RoutingRules
import ServerLinkWebSocket

/// `broker-dev bench-status`: how fast agent status reaches routing decisions, and what the
/// registry costs in memory.
public struct BenchStatus: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "bench-status",
        abstract: "Measure the status feed: stream-to-decision latency and registry memory.",
        discussion: """
            Starts the agent-server simulator on loopback, connects a real server link and gRPC \
            status feed, changes one agent's metric per step and measures how long until a routing \
            decision sees it. Then builds a registry of --memory-agents agents with 10 metrics \
            each and reports the resident memory it added.
            """
    )

    @Option(help: "Status changes to time.")
    var updates = 2_000

    @Option(help: "Agents for the memory measurement (10 metrics each).")
    var memoryAgents = 100_000

    public func run() async throws {
        do { try await latency() } catch { printError("error: \(error)") }
        memory()
    }

    func latency() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(SimulateServer.agentRecords(100))
        try await simulator.start()
        defer { Task { await simulator.stop() } }
        let registry = AgentRegistry(indexedMetrics: ["skill"])
        var linkConfiguration = WebSocketServerLink.Configuration()
        linkConfiguration.url = simulator.webSocketURL
        let link = WebSocketServerLink(configuration: linkConfiguration)
        let feed = GRPCStatusFeed(registry: registry, events: link.events)
        let tasks = [Task { await link.run() }, Task { await feed.run() }]
        defer { for task in tasks { task.cancel() } }
        while registry.snapshot.count < 100 { try await Task.sleep(for: .milliseconds(10)) }

        // A decision that reads the metric: least-loaded selection among online agents.
        guard
            let rules = RuleSetLoader().load([
                RuleSource(
                    name: "bench.yaml",
                    text: "version: 1\nroutes:\n  - name: least\n    select: { strategy: { least: metrics.load } }\n")
            ]).ruleSet
        else { throw ValidationError("bench rules do not compile") }
        let message = Message(JSONObject([("message_type", "TEXT")]))
        var random = FastRandom(seed: 1)
        var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: .three)
        let target = simulator.agents[7].agentID
        for step in 0..<updates {
            // Make the target the least loaded: the next decision must choose it.
            let others = simulator.agents.filter { $0.agentID != target }
            if step == 0 { for agent in others { simulator.setMetric(agent.agentID, "load", "0.5") } }
            let value = step % 2 == 0 ? "0.01" : "0.99"
            let start = DispatchTime.now().uptimeNanoseconds
            simulator.setMetric(target, "load", value)
            let wantTarget = value == "0.01"
            while true {
                let chosen = rules.evaluate(message, in: registry.snapshot, random: &random).deliveries.first?.agentID
                if (chosen == target) == wantTarget && registry.snapshot.agent(id: target)?.metrics["load"] == value {
                    break
                }
                await Task.yield()
            }
            _ = histogram.record((DispatchTime.now().uptimeNanoseconds - start) / 1000)
        }
        func ms(_ p: Double) -> String { String(format: "%.2f", Double(histogram.valueAtPercentile(p)) / 1000) }
        print(
            "status stream → routing decision, \(updates) changes: p50 \(ms(50)) ms, p99 \(ms(99)) ms, max "
                + String(format: "%.2f ms", Double(histogram.max) / 1000))
    }

    func memory() {
        let registry = AgentRegistry(indexedMetrics: ["skill"])
        let records = (0..<memoryAgents).map { i in
            AgentStatusRecord(
                agentID: String(format: "agent_%08x", i), agentName: "Agent \(i)", isOnline: i % 4 != 0,
                lastSeen: "2026-11-25T10:00:00Z",
                metrics: Dictionary(uniqueKeysWithValues: (0..<10).map { ("metric_\($0)", String(i % (7 + $0))) }))
        }
        // Measured with the input list alive, so only what the registry adds is counted.
        let before = Bench.residentKilobytes(getpid())
        let start = DispatchTime.now().uptimeNanoseconds
        registry.apply(AgentStatusUpdate(agents: records, isFullUpdate: true))
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let after = Bench.residentKilobytes(getpid())
        print(String(format: "full update of %d agents: %.1f ms", memoryAgents, elapsed))
        print("registry of \(registry.snapshot.count) agents × 10 metrics: \((after - before) / 1024) MB resident")
        withExtendedLifetime(records) {}
    }
}
