import AgentServerSimulator
import AgentStatusGRPC
import BrokerCore
import BrokerTransports
import Foundation
import Logging
import ServerLinkWebSocket
import Synchronization
import TestSupport
import Testing
import WebSocketClient

func agents(_ count: Int, online: Bool = true) -> [AgentStatusRecord] {
    (0..<count).map {
        AgentStatusRecord(
            agentID: String(format: "agent_%05d", $0), agentName: "Agent \($0)", isOnline: online,
            lastSeen: "2026-11-25T10:00:00Z", metrics: ["load": "0.\($0 % 10)"])
    }
}

/// A broker's server link and status feed wired to a simulator, with fast backoff.
struct Harness {
    let simulator = AgentServerSimulator()
    let registry = AgentRegistry()
    let link: WebSocketServerLink
    let feed: GRPCStatusFeed
    let tasks: [Task<Void, Never>]

    init(
        simulator: AgentServerSimulator, registry: AgentRegistry = AgentRegistry(),
        adjust: (inout WebSocketServerLink.Configuration, inout GRPCStatusFeed.Configuration) -> Void = { _, _ in }
    ) {
        var linkConfiguration = WebSocketServerLink.Configuration()
        linkConfiguration.url = simulator.webSocketURL
        linkConfiguration.brokerName = "test-broker"
        linkConfiguration.backoffBase = .milliseconds(50)
        linkConfiguration.backoffCap = .milliseconds(300)
        var feedConfiguration = GRPCStatusFeed.Configuration()
        feedConfiguration.backoffBase = .milliseconds(50)
        feedConfiguration.backoffCap = .milliseconds(300)
        feedConfiguration.refreshInterval = .seconds(5)
        adjust(&linkConfiguration, &feedConfiguration)
        let link = WebSocketServerLink(configuration: linkConfiguration)
        let feed = GRPCStatusFeed(registry: registry, events: link.events, configuration: feedConfiguration)
        self.link = link
        self.feed = feed
        self.tasks = [Task { await link.run() }, Task { await feed.run() }]
        self.registryStorage = registry
        self.simulatorStorage = simulator
    }

    private let registryStorage: AgentRegistry
    private let simulatorStorage: AgentServerSimulator
    var agentRegistry: AgentRegistry { registryStorage }

    func stop() async {
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        await simulatorStorage.stop()
    }

    var registeredID: String? {
        if case .registered(let registration) = link.state { return registration.brokerID }
        return nil
    }
}

@Suite(.serialized, .timeLimit(.minutes(10))) struct ServerLinkTests {
    func started(_ configure: (AgentServerSimulator) -> Void = { _ in }, grpc: Bool = true) async throws -> Harness {
        let simulator = AgentServerSimulator()
        configure(simulator)
        try await simulator.start(startGRPC: grpc)
        return Harness(simulator: simulator, registry: AgentRegistry())
    }

    @Test func registersSubscribesAndAppliesUpdates() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(3))
        try await simulator.start()
        let h = Harness(simulator: simulator)
        let registry = h.agentRegistry
        try await eventually("the full list arrives") { registry.snapshot.count == 3 }
        #expect(registry.sync.isSynced)
        #expect(simulator.subscribedBrokerIDs == [h.registeredID ?? "?"])
        #expect(h.registeredID?.hasPrefix("broker_") == true)

        simulator.setMetric("agent_00001", "skill", "billing")
        try await eventually("a partial update arrives") {
            registry.snapshot.agent(id: "agent_00001")?.metrics["skill"] == "billing"
        }
        simulator.remove("agent_00002")
        try await eventually("a removed agent goes offline") {
            registry.snapshot.agent(id: "agent_00002")?.isOnline == false
        }
        #expect(registry.snapshot.count == 3)  // kept, not forgotten

        await simulator.sendToBrokers(#"{"message_type":"PING"}"#)
        await simulator.sendToBrokers(#"{"message_type":"SERVER_HEARTBEAT"}"#)
        try await eventually("both pings are answered") { simulator.pongs == 2 }
        await h.stop()
    }

    @Test func refusedRegistrationIsRetriedUntilAccepted() async throws {
        let simulator = AgentServerSimulator()
        simulator.refuseRegistrations(true)
        simulator.setAgents(agents(2))
        try await simulator.start()
        let h = Harness(simulator: simulator)
        try await eventually("the refusal is seen") { h.link.state.disconnectedReason?.contains("refused") == true }
        #expect(simulator.registrations == 0)
        simulator.refuseRegistrations(false)
        let registry = h.agentRegistry
        try await eventually("the broker registers once allowed") { registry.snapshot.count == 2 }
        await h.stop()
    }

    @Test func aReplyWithoutGRPCPortIsAnErrorAndRetried() async throws {
        let simulator = AgentServerSimulator()
        simulator.omitGRPCPort(true)
        simulator.setAgents(agents(1))
        try await simulator.start()
        let h = Harness(simulator: simulator)
        try await eventually("the bad reply is refused") {
            h.link.state.disconnectedReason?.contains("grpc_port") == true
        }
        #expect(h.agentRegistry.snapshot.count == 0)
        simulator.omitGRPCPort(false)
        let registry = h.agentRegistry
        try await eventually("the broker recovers") { registry.snapshot.count == 1 }
        await h.stop()
    }

    @Test(arguments: ["1e300", "-1", "65536", "1.5", "\"99999999999999999999\"", "null", "true"])
    func aHostileGRPCPortIsReportedNotACrash(_ value: String) async throws {
        let simulator = AgentServerSimulator()
        simulator.replyGRPCPort(try JSONParser.parse(value))
        simulator.setAgents(agents(1))
        try await simulator.start()
        let h = Harness(simulator: simulator)
        try await eventually("the bad reply is seen") { simulator.registrations >= 2 }
        if case .disconnected(let reason) = h.link.state { #expect(reason.contains("grpc_port"), "\(reason)") }
        simulator.replyGRPCPort(nil)
        let registry = h.agentRegistry
        try await eventually("the broker recovers") { registry.snapshot.count == 1 }
        await h.stop()
    }

    @Test func junkFramesAndUnknownTypesAreIgnored() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(1))
        try await simulator.start()
        let h = Harness(simulator: simulator)
        let registry = h.agentRegistry
        try await eventually("synced") { registry.snapshot.count == 1 }
        let id = h.registeredID
        await simulator.sendToBrokers("this is not JSON")
        await simulator.sendToBrokers(#"{"message_type":"SOMETHING_NEW"}"#)
        await simulator.sendToBrokers(#"{"message_type":"ERROR","text_payload":"minor"}"#)
        await simulator.sendToBrokers(#"{"message_type":"PING"}"#)
        try await eventually("still answering pings") { simulator.pongs == 1 }
        #expect(h.registeredID == id)
        #expect(simulator.registrations == 1)
        await h.stop()
    }

    @Test func gRPCDownAtStartIsRetriedAndTheRegistryIsStaleMeanwhile() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(4))
        try await simulator.start(startGRPC: false)
        let h = Harness(simulator: simulator)
        try await eventually("registered") { simulator.registrations >= 1 }
        let registry = h.agentRegistry
        try await remains("unsynced and empty while gRPC is down", for: .milliseconds(300)) {
            !registry.sync.isSynced && registry.snapshot.count == 0
        }
        // The server brings gRPC up and the broker re-registers (new endpoint).
        try await simulator.startGRPC()
        await simulator.disconnectBrokers()
        try await eventually("synced after gRPC came up") { registry.snapshot.count == 4 }
        #expect(registry.sync.isSynced)
        await h.stop()
    }

    /// A server that accepts the subscription and never sends its first list was waited on
    /// forever, silently: the stream is given up after the deadline, logged, and opened again.
    @Test func aStreamThatNeverSendsItsFirstListIsGivenUpAndOpenedAgain() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(3))
        simulator.withholdFirstList(true)
        try await simulator.start()
        let h = Harness(simulator: simulator) { _, feed in feed.firstListTimeout = .milliseconds(500) }
        let registry = h.agentRegistry
        try await eventually("the silent stream is given up and opened again", timeout: .seconds(10)) {
            simulator.subscribedBrokerIDs.count >= 2
        }
        #expect(!registry.sync.isSynced)
        simulator.withholdFirstList(false)
        try await eventually("synced once the server sends its list", timeout: .seconds(10)) {
            registry.sync.isSynced && registry.snapshot.count == 3
        }
        await h.stop()
    }

    @Test func aBrokenStreamKeepsTheRegistryAndResyncs() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(3))
        try await simulator.start()
        let h = Harness(simulator: simulator)
        let registry = h.agentRegistry
        try await eventually("synced") { registry.snapshot.count == 3 }
        simulator.dropStreams()
        try await eventually("the feed notices") { !registry.sync.isSynced || h.feed.reconnects > 0 }
        #expect(registry.snapshot.count == 3)  // last good registry kept
        simulator.upsert(AgentStatusRecord(agentID: "agent_new", isOnline: true))
        try await eventually("resynced with the change made while down") {
            registry.snapshot.agent(id: "agent_new") != nil
        }
        #expect(registry.sync.isSynced)
        #expect(h.feed.reconnects >= 1)
        await h.stop()
    }

    @Test func aServerRestartedOnAnotherGRPCPortIsFollowed() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(2))
        try await simulator.start()
        let h = Harness(simulator: simulator)
        let registry = h.agentRegistry
        try await eventually("synced") { registry.snapshot.count == 2 }
        let firstID = h.registeredID
        let firstPort = simulator.grpcPort
        try await simulator.restartGRPC()
        #expect(simulator.grpcPort != firstPort)
        await simulator.disconnectBrokers()
        simulator.upsert(AgentStatusRecord(agentID: "agent_after_restart", isOnline: true))
        try await eventually("the new endpoint is followed") {
            registry.snapshot.agent(id: "agent_after_restart") != nil
        }
        #expect(h.registeredID != firstID)
        #expect(simulator.subscribedBrokerIDs.last == h.registeredID)
        await h.stop()
    }

    @Test func badRecordsAreSkippedAndTimestampsKeptRaw() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(1))
        try await simulator.start()
        let h = Harness(simulator: simulator)
        let registry = h.agentRegistry
        try await eventually("synced") { registry.snapshot.count == 1 }
        simulator.sendRaw(
            AgentStatusUpdate(
                agents: [
                    AgentStatusRecord(agentID: "", agentName: "no id", isOnline: true),
                    AgentStatusRecord(agentID: "agent_clock", isOnline: true, lastSeen: "half past nine"),
                    AgentStatusRecord(agentID: "agent_time", isOnline: true, lastSeen: "09:30:00"),
                ], isFullUpdate: false))
        try await eventually("the valid records arrive") { registry.snapshot.agent(id: "agent_time") != nil }
        #expect(registry.snapshot.count == 3)
        #expect(registry.snapshot.agent(id: "agent_clock")?.lastSeenRaw == "half past nine")
        #expect(registry.snapshot.agent(id: "agent_clock")?.lastSeen == nil)
        #expect(registry.snapshot.agent(id: "agent_time")?.lastSeen != nil)
        await h.stop()
    }

    @Test func tenThousandAgentsInOneFullUpdate() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(10_000))
        try await simulator.start()
        let h = Harness(simulator: simulator)
        let registry = h.agentRegistry
        try await eventually("10,000 agents arrive", timeout: .seconds(30)) { registry.snapshot.count == 10_000 }
        #expect(registry.snapshot.online.count == 10_000)
        await h.stop()
    }

    @Test func aHundredThousandAgentsInOneFullUpdateAreOverGRPCsDefaultLimit() async throws {
        let h = try await started { $0.setAgents(agents(100_000)) }
        let registry = h.agentRegistry
        try await eventually("100,000 agents arrive and the registry syncs", timeout: .seconds(60)) {
            registry.snapshot.count == 100_000 && registry.sync.state == .synced
        }
        await h.stop()
    }

    @Test func unknownAgentsTriggerARateLimitedRefresh() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(1))
        try await simulator.start()
        let h = Harness(simulator: simulator)
        let registry = h.agentRegistry
        try await eventually("synced") { registry.snapshot.count == 1 }
        #expect(await h.feed.refresh(forUnknownAgent: "agent_ghost"))
        #expect(!(await h.feed.refresh(forUnknownAgent: "agent_other_ghost")))  // within 5 s
        #expect(!(await h.feed.refresh(forUnknownAgent: "agent_00000")))  // known
        #expect(!(await h.feed.refresh(forUnknownAgent: "bob")))  // not an agent id
        #expect(simulator.statusCalls == 1)
        await h.stop()
    }
}

@Suite(.timeLimit(.minutes(10))) struct SilentServerTests {
    @Test func aServerThatAcceptsAndStaysSilentTimesOutAndIsRetried() async throws {
        let silent = try ListeningSocket()
        var configuration = WebSocketServerLink.Configuration()
        configuration.url = "ws://127.0.0.1:\(silent.port)/ws"
        configuration.registrationTimeout = .milliseconds(300)
        configuration.backoffBase = .milliseconds(50)
        configuration.backoffCap = .milliseconds(100)
        let link = WebSocketServerLink(configuration: configuration)
        let running = Task { await link.run() }
        // Each attempt is given up on when the upgrade goes unanswered, and it keeps trying.
        try await eventually("the silent server is given up on twice", timeout: .seconds(20)) {
            let failed = link.failedAttempts
            return failed.count >= 2 && failed.lastReason?.contains("did not answer") == true
        }
        if case .registered = link.state { Issue.record("a silent server cannot register the broker") }
        running.cancel()
        await running.value
    }
}

/// Collects log lines (message and metadata) in memory.
final class CapturedLogs: @unchecked Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    func handler(label: String) -> some LogHandler { Handler(logs: self) }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).merging(metadata) { a, _ in a }
            logs.lines.withLock { $0.append("\(event.message) \(fields)") }
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct SecretsInLogsTests {
    @Test func aWebSocketURLsPasswordIsNeverLogged() async throws {
        let refused = try freePort()
        let logs = CapturedLogs()
        var configuration = WebSocketServerLink.Configuration()
        configuration.url = "ws://ops:s3cr%40t@127.0.0.1:\(refused)/ws"
        configuration.refusedRetryDelay = .milliseconds(50)
        let link = WebSocketServerLink(
            configuration: configuration, logger: Logger(label: "test", factory: logs.handler))
        let running = Task { await link.run() }
        link.redirect(to: "ws://ops:an0ther@127.0.0.1:\(refused)/ws")
        try await eventually("a few attempts are logged") { logs.all.count >= 2 }
        running.cancel()
        await running.value
        #expect(logs.all.allSatisfy { !$0.contains("s3cr") && !$0.contains("an0ther") }, "\(logs.all)")
        #expect(logs.all.contains { $0.contains("ws://ops:***@127.0.0.1") })
        let endpoint = try WebSocketEndpoint(url: "ws://user:pass@example.com:8765/ws")
        #expect(endpoint.host == "example.com" && endpoint.port == 8765 && "\(endpoint)" == "ws://example.com:8765/ws")
        #expect(redactingPassword(in: "amqp://u:p@ss@mq:5672/v") == "amqp://u:***@mq:5672/v")
        #expect(redactingPassword(in: "ws://host/path@x") == "ws://host/path@x")
        // Not URLs, but what an operator typed: the password still stays out.
        #expect(redactingPassword(in: "ws//u:s3cret@host:8765/ws") == "***@host:8765/ws")
        #expect(redactingPassword(in: "u:s3cret@mq:5672") == "***@mq:5672")
    }
}

extension ServerLinkState {
    /// Why the link is down, when it is.
    var disconnectedReason: String? {
        if case .disconnected(let reason) = self { return reason }
        return nil
    }
}
