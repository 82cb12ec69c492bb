import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import InMemoryTransport
import RoutingRules
import TestSupport
import Testing

/// After the agent server restarts empty, a decision that chooses among agents waits for its
/// agents to reconnect; every other decision goes out at once.
@Suite(.timeLimit(.minutes(10))) struct WarmupRoutingTests {
    func message(_ json: String) -> [UInt8] { Array(json.utf8) }

    /// A registry whose server came back empty after three agents were online, warming up, its
    /// time on `clock` (that moves only when the test advances it).
    func warmingRegistry(clock: ManualClock, deadline: Duration = .seconds(30)) -> (AgentRegistry, RegistryWarmup) {
        let registry = threeOnlineAgents(clock: clock)
        let warmup = RegistryWarmup(registry: registry, policy: .init(deadline: deadline, quietPeriod: .seconds(5)))
        let expected = warmup.expectedOnline
        registry.sync.markUnsynced(reason: "agent server link down")
        registry.replaceAll(with: AgentStatusUpdate(agents: [], isFullUpdate: true))
        warmup.firstList(expected: expected)
        registry.sync.markSynced()
        return (registry, warmup)
    }

    /// A router with the default rules on `registry`, running, with a TEXT from a frontend queued.
    func routeWithDefaultRules(on registry: AgentRegistry) -> (InMemoryQueues, MessageRouter, Task<Void, Never>) {
        let queues = InMemoryQueues()
        let router = MessageRouter(rules: RuleSetHolder(defaultRules), registry: registry, output: queues.sink)
        let consumer = queues.consumer(of: "broker_input_queue", prefetch: 16)
        let routing = Task { await router.run(consumer) }
        queues.enqueue(
            message(#"{"message_type":"TEXT","sender_id":"web_1","message_id":"t1","text_payload":"hi"}"#),
            to: "broker_input_queue")
        return (queues, router, routing)
    }

    @Test func aChoiceAmongAgentsWaitsForThemAndOtherDecisionsFlow() async throws {
        let (registry, warmup) = warmingRegistry(clock: ManualClock())
        let (queues, router, routing) = routeWithDefaultRules(on: registry)
        defer { routing.cancel() }
        queues.enqueue(
            message(#"{"message_type":"ERROR","sender_id":"agent_x","receiver_id":"web_1","message_id":"e1"}"#),
            to: "broker_input_queue")
        try await eventually("the ERROR is forwarded at once") {
            queues.contents(of: "server_input_queue").count == 1
        }
        // Waiting: parked until the warm-up ends, which it cannot while the clock stands still.
        try await eventually("the TEXT waits for agents") { router.statistics.waitingForAgents == 1 }
        #expect(queues.contents(of: "server_input_queue").count == 1, "no 'No online agents' ERROR while warming")

        // Agents reconnect under new ids: one of three is still a short list, the second ends it.
        func reconnect(_ id: String) {
            registry.apply(
                AgentStatusUpdate(agents: [AgentStatusRecord(agentID: id, isOnline: true)], isFullUpdate: false))
            warmup.check()
        }
        reconnect("agent_new1")
        #expect(registry.sync.isWarming, "one agent of three back, and no quiet period passed: still warming")
        #expect(router.statistics.waitingForAgents == 1)
        #expect(queues.contents(of: "server_input_queue").count == 1, "one agent of three back: still waiting")
        reconnect("agent_new2")
        try await eventually("the TEXT goes to a reconnected agent") {
            queues.contents(of: "server_input_queue").count == 2
        }
        let routed = queues.drain("server_input_queue").compactMap { try? Message(decoding: $0.body) }
        let text = try #require(routed.first { $0.messageID == "t1" })
        #expect(text.messageType == "TEXT")
        #expect(["agent_new1", "agent_new2"].contains(text.receiverID ?? ""))
        #expect(router.statistics.waitingForAgents == 0)
        #expect(router.statistics.waitedForAgents == 1)
    }

    @Test func afterTheDeadlineWithNobodyBackTheOriginalsErrorGoesOut() async throws {
        let clock = ManualClock()
        let (registry, warmup) = warmingRegistry(clock: clock, deadline: .seconds(30))
        let watch = Task { await warmup.watch { _ in } }
        defer { watch.cancel() }
        let (queues, router, routing) = routeWithDefaultRules(on: registry)
        defer { routing.cancel() }
        try await eventually("the TEXT waits for agents") { router.statistics.waitingForAgents == 1 }
        try await eventually("the warm-up's watch waits on the clock") { clock.sleepers == 1 }
        clock.advance(by: .seconds(29))
        #expect(registry.sync.isWarming, "29 s of 30: still warming")
        #expect(queues.contents(of: "server_input_queue").isEmpty)
        clock.advance(by: .seconds(1))
        try await eventually("the ERROR goes out once the warm-up is over") {
            queues.contents(of: "server_input_queue").count == 1
        }
        #expect(!registry.sync.isWarming)
        let error = try #require(queues.drain("server_input_queue").first.flatMap { try? Message(decoding: $0.body) })
        #expect(error[string: "routing_status"] == "No online agents available. Routing failed.")
    }

    @Test func rulesCanReadTheWarmUp() throws {
        let rules = try inlineRules(
            """
            version: 1
            defaults: { output: out, dead_letter: dead }
            routes:
              - name: hold-off
                when: { registry.warming: true }
                dead_letter: "warming"
              - name: settled
                when: { registry.warming: false }
                deliver: as_is
            """)
        let (registry, warmup) = warmingRegistry(clock: ManualClock())
        var random = FastRandom(seed: 1)
        let message = try Message(decoding: Array(#"{"message_type":"TEXT"}"#.utf8))
        #expect(rules.evaluate(message, in: registry.snapshot, random: &random).route == "hold-off")
        registry.sync.endWarming(reason: "test")
        _ = warmup
        #expect(rules.evaluate(message, in: registry.snapshot, random: &random).route == "settled")
    }
}
