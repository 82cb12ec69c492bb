import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import InMemoryTransport
import RoutingRules
import Synchronization
import TestSupport
import Testing

/// The router decides only on a registry synced with the current agent server registration.
@Suite(.timeLimit(.minutes(10))) struct SyncedRoutingTests {
    func router(
        _ policy: RouterConfiguration.StalePolicy, registry: AgentRegistry, queues: InMemoryQueues,
        maximumStaleness: Duration = .zero
    ) -> MessageRouter {
        var configuration = RouterConfiguration()
        configuration.stalePolicy = policy
        configuration.maximumStaleness = maximumStaleness
        return MessageRouter(
            rules: RuleSetHolder(defaultRules), registry: registry, output: queues.sink, configuration: configuration)
    }

    func enqueue(_ queues: InMemoryQueues, _ id: String) {
        queues.enqueue(
            Array(#"{"message_type":"TEXT","sender_id":"web_1","message_id":"\#(id)"}"#.utf8), to: "broker_input_queue")
    }

    /// Unsynced registry (three agents from an old registration, none of the current one).
    func unsyncedRegistry() -> AgentRegistry {
        let registry = threeOnlineAgents()
        registry.sync.markUnsynced(reason: "agent server link down")
        return registry
    }

    @Test(arguments: RouterConfiguration.StalePolicy.allCases)
    func nothingIsDecidedBeforeTheFirstFullListWhateverThePolicy(_ policy: RouterConfiguration.StalePolicy)
        async throws
    {
        let queues = InMemoryQueues()
        let registry = AgentRegistry()  // never synced
        let router = router(policy, registry: registry, queues: queues)
        let consumer = queues.consumer(of: "broker_input_queue", prefetch: 8, paused: true)
        for i in 0..<5 { enqueue(queues, "m\(i)") }
        // The gate's verdicts as it gives them: it acts on each before it waits for a change.
        let verdicts = Mutex<[RoutingGate.Verdict]>([])
        let flow = Task {
            await router.routingGate.controlFlow(of: consumer) { verdict in verdicts.withLock { $0.append(verdict) } }
        }
        let routing = Task { await router.run(consumer) }
        defer {
            flow.cancel()
            routing.cancel()
        }
        try await eventually("the gate has given its verdict") { verdicts.withLock { !$0.isEmpty } }
        let first = verdicts.withLock { $0[0] }
        guard case .wait = first else {
            Issue.record("an unsynced registry let messages through: \(first)")
            return
        }
        #expect(consumer.isPaused, "the gate keeps the input paused until the registry changes")
        #expect(queues.contents(of: "server_input_queue").isEmpty)
        #expect(queues.contents(of: "broker_dead_letter").isEmpty)
        #expect(queues.contents(of: "broker_input_queue").count == 5, "the input stays paused: nothing taken")
        registry.replaceAll(
            with: AgentStatusUpdate(
                agents: [AgentStatusRecord(agentID: "agent_new", isOnline: true)], isFullUpdate: true))
        registry.sync.markSynced()
        try await eventually("all five are routed once synced") {
            queues.contents(of: "server_input_queue").count == 5
        }
        let receivers = Set(
            queues.drain("server_input_queue").compactMap { try? Message(decoding: $0.body).receiverID })
        #expect(receivers == ["agent_new"])
    }

    @Test func waitHoldsDeliveredMessagesUntilTheRegistrySyncsAgain() async throws {
        let queues = InMemoryQueues()
        let registry = unsyncedRegistry()
        let router = router(.wait, registry: registry, queues: queues)
        enqueue(queues, "held")
        let consumer = queues.consumer(of: "broker_input_queue", prefetch: 4)  // delivered before any pause
        let routing = Task { await router.run(consumer) }
        // Held: parked until the registry changes, so nothing can go out before the change below.
        try await eventually("the delivered message is held") { router.statistics.waitingForRegistry == 1 }
        #expect(queues.contents(of: "server_input_queue").isEmpty)
        #expect(consumer.unsettled == 1, "held unacknowledged, not lost")
        registry.replaceAll(
            with: AgentStatusUpdate(agents: [AgentStatusRecord(agentID: "agent_x", isOnline: true)], isFullUpdate: true)
        )
        registry.sync.markSynced()
        try await eventually("routed after the full list") { router.statistics.settled == 1 }
        #expect(router.statistics.waitingForRegistry == 0)
        consumer.beginGracefulShutdown()
        await routing.value
        let routed = queues.drain("server_input_queue")
        #expect(routed.count == 1)
        #expect((try? Message(decoding: routed[0].body))?.receiverID == "agent_x", "decided on the new list")
    }

    @Test func deadLetterPolicyNamesTheState() async throws {
        let queues = InMemoryQueues()
        let registry = unsyncedRegistry()
        enqueue(queues, "u")
        await drain(queues, router(.deadLetter, registry: registry, queues: queues), expected: 1)
        #expect(
            queues.drain("broker_dead_letter").first?.headers[MessageRouter.Header.reasonCode]?.text
                == "registry_unsynced")

        registry.sync.markSynced()
        registry.sync.markStale(reason: "status stream down")
        enqueue(queues, "s")
        await drain(queues, router(.deadLetter, registry: registry, queues: queues), expected: 1)
        #expect(
            queues.drain("broker_dead_letter").first?.headers[MessageRouter.Header.reasonCode]?.text == "registry_stale"
        )
    }

    @Test func routePolicyRoutesOnTheLastListOnceSynced() async throws {
        let queues = InMemoryQueues()
        enqueue(queues, "r")
        await drain(queues, router(.routeAnyway, registry: unsyncedRegistry(), queues: queues), expected: 1)
        #expect(queues.drain("server_input_queue").count == 1)
    }

    @Test func aBlipShorterThanTheMaximumStalenessDoesNotPauseRouting() async throws {
        let queues = InMemoryQueues()
        let clock = ManualClock()
        let registry = threeOnlineAgents(clock: clock)
        registry.sync.markStale(reason: "status stream down")
        let router = router(.wait, registry: registry, queues: queues, maximumStaleness: .seconds(30))
        enqueue(queues, "blip")
        await drain(queues, router, expected: 1)
        #expect(queues.drain("server_input_queue").count == 1)
        #expect(router.routingGate.verdict == .route(until: clock.now.addingTimeInterval(30)))
    }

    @Test func aBlipLongerThanTheMaximumStalenessPausesTheInput() async throws {
        let queues = InMemoryQueues()
        let clock = ManualClock()
        let registry = threeOnlineAgents(clock: clock)
        let router = router(.wait, registry: registry, queues: queues, maximumStaleness: .seconds(30))
        let consumer = queues.consumer(of: "broker_input_queue", prefetch: 8)
        let flow = Task { await router.routingGate.controlFlow(of: consumer) }
        defer { flow.cancel() }
        registry.sync.markStale(reason: "status stream down")
        #expect(router.routingGate.verdict == .route(until: clock.now.addingTimeInterval(30)))
        try await eventually("the gate waits on the clock for the bound") { clock.sleepers == 1 }
        clock.advance(by: .seconds(29))
        #expect(router.routingGate.verdict == .route(until: clock.now.addingTimeInterval(1)), "29 s of 30")
        #expect(!consumer.isPaused)
        clock.advance(by: .seconds(1))
        #expect(router.routingGate.verdict == .wait(reason: "the status stream has been down for 30 s"))
        try await eventually("the consumer is paused once the bound passes") { consumer.isPaused }
        enqueue(queues, "late")
        #expect(queues.contents(of: "broker_input_queue").count == 1, "paused: not taken")
        consumer.beginGracefulShutdown()
    }

    @Test func theStaticFileFeedIsSyncedAtOnce() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let registry = AgentRegistry()
        _ = try StaticStatusFeed(
            path: root.appendingPathComponent("rules/registries/three-agents.yaml").path, registry: registry)
        #expect(registry.snapshot.count == 3)
        #expect(registry.sync.isSynced)
    }

    @Test func aNewRegistrationsFirstListForgetsTheOldAgents() {
        let registry = threeOnlineAgents()
        registry.replaceAll(
            with: AgentStatusUpdate(agents: [AgentStatusRecord(agentID: "agent_z", isOnline: true)], isFullUpdate: true)
        )
        #expect(registry.snapshot.count == 1)
        #expect(registry.snapshot.agent(id: "agent_a") == nil, "a restarted server no longer knows agent_a")
        // A later full list of the same registration keeps missing agents, offline.
        registry.apply(AgentStatusUpdate(agents: [], isFullUpdate: true))
        #expect(registry.snapshot.agent(id: "agent_z")?.isOnline == false)
    }
}
