import AgentServerSimulator
import BrokerApp
import BrokerCore
import BrokerDaemon
import BrokerTransports
import Foundation
import InMemoryTransport
import TestSupport
import Testing

@Suite(.serialized, .timeLimit(.minutes(10))) struct ServerAdvertisementTests {
    /// A daemon on in-memory queues registered with `simulator`, whose link would otherwise wait
    /// a minute between attempts.
    func daemon(_ simulator: AgentServerSimulator, queues: InMemoryQueues) throws -> Daemon {
        var server = AgentServerSettings(url: simulator.webSocketURL, brokerName: "advertised")
        server.link.refusedRetryDelay = .seconds(60)
        server.link.backoffBase = .seconds(60)
        server.link.backoffCap = .seconds(60)
        var configuration = DaemonConfiguration(
            transport: InMemoryTransport(queues: queues), agents: .agentServer(server))
        configuration.rules = [root.appendingPathComponent("rules/default.yaml").path]
        configuration.metadataQueue = ""
        configuration.admin.port = 0
        configuration.watchRules = false
        return try Daemon(configuration: configuration)
    }

    @Test func serverAvailableOnTheAdvertisementQueueReconnectsAtOnce() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents([AgentStatusRecord(agentID: "agent_one", isOnline: true)])
        try await simulator.start()
        let queues = InMemoryQueues()
        let daemon = try daemon(simulator, queues: queues)
        let running = Task { try await daemon.run() }
        try await eventually("synced") { daemon.registry.sync.isSynced }

        // An outage long enough that the link notices it while the server is down, even on a busy machine
        // (noticed after the restart, its first reconnection would succeed at once).
        let restart = Task { try await simulator.restart(outage: .seconds(3), behaviour: .sameAgents) }
        try await eventually("the link is lost and the registry unsynced") {
            let link = daemon.readiness.first { $0.check == "agent_server" }
            return link?.ok == false && daemon.registry.sync.state == .unsynced
        }
        try await restart.value
        try await remains("unsynced: without the announcement the link waits out its retry delay", for: .seconds(1.5)) {
            !daemon.registry.sync.isSynced
        }

        queues.enqueue(
            Array(#"{"message_type":"SERVER_AVAILABLE","websocket_url":"\#(simulator.webSocketURL)"}"#.utf8),
            to: "server_advertisement_queue")
        try await eventually(
            "synced again after SERVER_AVAILABLE (the link alone would wait 60 s)", timeout: .seconds(10)
        ) {
            daemon.registry.sync.isSynced
        }
        #expect(daemon.registry.snapshot.agents.map(\.id) != ["agent_one"], "the restarted server's new ids")
        try await eventually("the announcement is acknowledged") {
            queues.contents(of: "server_advertisement_queue").isEmpty
        }
        daemon.stop()
        try await running.value
        await simulator.stop()
    }
}
