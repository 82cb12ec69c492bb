import AgentServerSimulator
import BrokerApp
import BrokerCore
import BrokerDaemon
import BrokerTransports
import Foundation
import InMemoryTransport
import TestSupport
import Testing

/// An operator sees the warm-up after the agent server restarts empty: `/readyz`, `/stats`,
/// `/agents` and `/metrics` say so while messages wait for agents, and stop once they are back.
@Suite(.serialized, .timeLimit(.minutes(10))) struct WarmupVisibilityTests {
    @Test func theWarmUpShowsInReadinessStatsAgentsAndMetrics() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(["agent_a", "agent_b"].map { AgentStatusRecord(agentID: $0, isOnline: true) })
        try await simulator.start()
        let queues = InMemoryQueues()
        var server = AgentServerSettings(url: simulator.webSocketURL, brokerName: "warming")
        server.link.backoffBase = .milliseconds(100)
        server.link.backoffCap = .milliseconds(300)
        var configuration = DaemonConfiguration(
            transport: InMemoryTransport(queues: queues), agents: .agentServer(server))
        configuration.rules = [root.appendingPathComponent("rules/default.yaml").path]
        configuration.metadataQueue = ""
        configuration.admin.port = 0
        configuration.watchRules = false
        let daemon = try Daemon(configuration: configuration)
        let running = Task { try await daemon.run() }
        try await eventually("synced", timeout: .seconds(20)) { daemon.registry.sync.isSynced }
        let base = "http://127.0.0.1:\(daemon.admin.port)"

        // The server comes back empty; its agents do not (yet).
        try await simulator.restart(outage: .seconds(1), behaviour: .empty(reconnectSpread: .zero, neverReturn: 1))
        try await eventually("warming up", timeout: .seconds(20)) { daemon.registry.sync.isWarming }
        queues.enqueue(
            Array(#"{"message_type":"TEXT","sender_id":"web_1","message_id":"w1","text_payload":"hi"}"#.utf8),
            to: "broker_input_queue")
        try await eventually("the message waits for agents") { daemon.router.statistics.waitingForAgents == 1 }

        let ready = try await exchange("GET", base + "/readyz")
        #expect(ready.status == 200, "ready while warming: other decisions flow")
        #expect(ready.body.contains("warming up until"), "\(ready.body)")
        #expect(ready.body.contains("1 messages wait for agents"), "\(ready.body)")
        let stats = try JSONParser.parse(try await exchange("GET", base + "/stats").body)
        let warming = try #require(stats.objectValue?["warming"]?.objectValue, "\(stats)")
        #expect(warming["expected"] == .number(JSONNumber(2)))
        #expect(warming["waiting_messages"] == .number(JSONNumber(1)))
        #expect(warming["reason"]?.stringValue?.contains("empty") == true)
        let agents = try JSONParser.parse(try await exchange("GET", base + "/agents").body)
        #expect(agents.objectValue?["warming"]?.objectValue != nil)
        let metrics = try await exchange("GET", base + "/metrics").body
        #expect(metrics.contains("broker_registry_warming 1"), "\(metrics)")
        #expect(metrics.contains("broker_messages_waiting_for_agents 1"))
        #expect(queues.contents(of: "server_input_queue").isEmpty, "no ERROR on the empty list")

        // One of the two agents reconnects under a new id: half are back, the warm-up ends.
        simulator.upsert(AgentStatusRecord(agentID: "agent_back", isOnline: true))
        try await eventually("routed to the agent that came back", timeout: .seconds(10)) {
            queues.contents(of: "server_input_queue").count == 1
        }
        let routed = try Message(decoding: try #require(queues.drain("server_input_queue").first).body)
        #expect(routed.receiverID == "agent_back")
        let after = try JSONParser.parse(try await exchange("GET", base + "/stats").body)
        #expect(after.objectValue?["warming"] == .null)
        let settled = try await exchange("GET", base + "/metrics").body
        #expect(
            settled.contains("broker_registry_warming 0")
                && settled.contains("broker_messages_waited_for_agents_total 1"))
        daemon.stop()
        try await running.value
        await simulator.stop()
    }
}
