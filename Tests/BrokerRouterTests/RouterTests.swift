import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import InMemoryTransport
import RoutingRules
import Synchronization
import TestSupport
import Testing

let defaultRules: RuleSet = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return try! RuleSetLoader().load(paths: [root.appendingPathComponent("rules/default.yaml").path]).ruleSet!
}()

/// The rule set of one inline YAML file (the test fails when it does not load).
func inlineRules(_ text: String, name: String = "x.yaml") throws -> RuleSet {
    try #require(RuleSetLoader().load([RuleSource(name: name, text: text)]).ruleSet)
}

/// Runs `router` over everything in `broker_input_queue` and stops when `expected` are settled
/// (the test fails after 120 s: a hang guard, generous for a loaded CI machine).
func drain(_ queues: InMemoryQueues, _ router: MessageRouter, expected: Int, prefetch: Int = 32) async {
    let consumer = queues.consumer(of: "broker_input_queue", prefetch: prefetch)
    let task = Task { await router.run(consumer) }
    try? await eventually("\(expected) messages are settled", timeout: .seconds(120), every: .milliseconds(2)) {
        router.statistics.settled >= expected
    }
    consumer.beginGracefulShutdown()
    await task.value
}

@Suite(.timeLimit(.minutes(10))) struct RouterTests {
    @Test func everyMessageIsPublishedOnceAndAcknowledged() async throws {
        let queues = InMemoryQueues()
        let router = MessageRouter(
            rules: RuleSetHolder(defaultRules), registry: threeOnlineAgents(), output: queues.sink)
        for i in 0..<1000 {
            queues.enqueue(
                Array(#"{"message_type":"TEXT","sender_id":"agent_a","message_id":"m\#(i)"}"#.utf8),
                to: "broker_input_queue")
        }
        await drain(queues, router, expected: 1000)
        let output = queues.drain("server_input_queue")
        let ids = Set(output.compactMap { try? Message(decoding: $0.body).messageID })
        #expect(output.count == 1000)
        #expect(ids.count == 1000)
        #expect(queues.contents(of: "broker_input_queue").isEmpty)
        #expect(
            output.allSatisfy {
                $0.headers.isEmpty && $0.hops == 1
            })
        #expect(output.allSatisfy { (try? Message(decoding: $0.body).receiverID) != "agent_a" })
    }

    @Test func poisonMessagesAreDeadLetteredWithTheirReason() async throws {
        let queues = InMemoryQueues()
        var configuration = RouterConfiguration()
        configuration.maximumMessageSize = 200
        let router = MessageRouter(
            rules: RuleSetHolder(defaultRules), registry: threeOnlineAgents(), output: queues.sink,
            configuration: configuration)
        let poison: [(String, String)] = [
            ("{not json", "invalid_json"), ("[1,2,3]", "not_an_object"),
            (#"{"message_type":"TEXT","text_payload":""# + String(repeating: "x", count: 300) + #""}"#, "too_large"),
            (#"{"message_type":"FOO","message_id":"f"}"#, "no_route"), (#"{"message_id":"g"}"#, "rule"),
        ]
        for (body, _) in poison { queues.enqueue(Array(body.utf8), to: "broker_input_queue") }
        await drain(queues, router, expected: poison.count, prefetch: 1)
        let dead = queues.drain("broker_dead_letter")
        #expect(dead.map { $0.headers[MessageRouter.Header.reasonCode]?.text } == poison.map(\.1))
        #expect(dead.map { String(decoding: $0.body, as: UTF8.self) } == poison.map(\.0))
        #expect(dead.allSatisfy { $0.headers[MessageRouter.Header.originalQueue]?.text == "broker_input_queue" })
        #expect(dead[3].headers[MessageRouter.Header.reason]?.text == "unknown message_type 'FOO'")
        #expect(queues.contents(of: "server_input_queue").isEmpty)
    }

    @Test func aMessageThatKeepsComingBackIsStoppedAsACycle() async throws {
        let queues = InMemoryQueues()
        let rules = try inlineRules(
            "version: 1\nroutes:\n  - name: loop\n    deliver: as_is\n    output: broker_input_queue\n",
            name: "loop.yaml")
        let router = MessageRouter(rules: RuleSetHolder(rules), registry: threeOnlineAgents(), output: queues.sink)
        queues.enqueue(Array(#"{"message_type":"TEXT"}"#.utf8), to: "broker_input_queue")
        await drain(queues, router, expected: 11)
        let dead = queues.drain("broker_dead_letter")
        #expect(dead.count == 1)
        #expect(dead.first?.headers[MessageRouter.Header.reasonCode]?.text == "routing_cycle")
        #expect(dead.first?.headers[MessageRouter.Header.hops]?.text == "10")
    }

    @Test func anUnroutableCopyIsRetriedUntilItsQueueAppearsThenDeadLetteredAfterTheWindow() async throws {
        let queues = InMemoryQueues()
        queues.declareExchange("audit", bindings: [:])
        let rules = try inlineRules(
            """
            version: 1
            routes:
              - name: to-exchange
                deliver: as_is
                output: { exchange: audit, routing_key: "{message.key}" }
            """, name: "x.yaml")
        var configuration = RouterConfiguration()
        configuration.unroutableRetry = .seconds(1)
        let router = MessageRouter(
            rules: RuleSetHolder(rules), registry: threeOnlineAgents(), output: queues.sink,
            configuration: configuration)
        queues.enqueue(Array(#"{"message_type":"A","key":"late"}"#.utf8), to: "broker_input_queue")
        queues.enqueue(Array(#"{"message_type":"A","key":"never"}"#.utf8), to: "broker_input_queue")
        let consumer = queues.consumer(of: "broker_input_queue", prefetch: 8)
        let task = Task { await router.run(consumer) }
        try await eventually("retried") { router.statistics.retries >= 2 }
        queues.declareExchange("audit", bindings: ["late": "audit_queue"])  // the binding appears
        try await eventually("both settled", timeout: .seconds(10)) { router.statistics.settled == 2 }
        consumer.beginGracefulShutdown()
        await task.value
        #expect(queues.drain("audit_queue").count == 1, "delivered once its queue was bound")
        let dead = queues.drain("broker_dead_letter")
        #expect(
            dead.map { $0.headers[MessageRouter.Header.reason]?.text } == ["publish to audit/never failed: NO_ROUTE"])
    }

    @Test func unroutableAndRejectedPublishesAreDeadLettered() async throws {
        let queues = InMemoryQueues()
        queues.declareExchange("audit", bindings: ["known": "audit_queue"])
        let rules = try inlineRules(
            """
            version: 1
            routes:
              - name: to-exchange
                when: { message.message_type: A }
                deliver: as_is
                output: { exchange: audit, routing_key: "{message.key}" }
              - name: to-missing-exchange
                deliver: as_is
                output: { exchange: nowhere, routing_key: x }
            """, name: "x.yaml")
        var configuration = RouterConfiguration()
        configuration.unroutableRetry = .zero
        let router = MessageRouter(
            rules: RuleSetHolder(rules), registry: threeOnlineAgents(), output: queues.sink,
            configuration: configuration)
        for body in [
            #"{"message_type":"A","key":"known"}"#, #"{"message_type":"A","key":"unbound"}"#, #"{"message_type":"B"}"#,
        ] {
            queues.enqueue(Array(body.utf8), to: "broker_input_queue")
        }
        await drain(queues, router, expected: 3, prefetch: 1)
        #expect(queues.drain("audit_queue").count == 1)
        let dead = queues.drain("broker_dead_letter")
        #expect(
            dead.map { $0.headers[MessageRouter.Header.reason]?.text ?? "" } == [
                "publish to audit/unbound failed: NO_ROUTE",
                "publish to nowhere/x failed: NOT_FOUND - no exchange 'nowhere'",
            ])
    }

    @Test func anUnknownPublishOutcomeRedeliversTheMessageMarked() async throws {
        let queues = InMemoryQueues()
        let flaky = FlakySink(inner: queues.sink, failures: 1)
        let router = MessageRouter(rules: RuleSetHolder(defaultRules), registry: threeOnlineAgents(), output: flaky)
        queues.enqueue(Array(#"{"message_type":"ERROR","message_id":"e"}"#.utf8), to: "broker_input_queue")
        let consumer = queues.consumer(of: "broker_input_queue", prefetch: 4)
        let task = Task { await router.run(consumer) }
        try await eventually("the message is settled") { router.statistics.settled >= 1 }
        consumer.beginGracefulShutdown()
        await task.value
        #expect(router.statistics.snapshot.requeued == 1)
        let output = queues.drain("server_input_queue")
        #expect(output.count == 1)
        #expect(output.first?.headers[MessageRouter.Header.redelivered]?.text == "true")
    }

    @Test func propertiesAndTypedHeadersTravelOnRoutedAndDeadLetteredCopies() async throws {
        let queues = InMemoryQueues()
        let router = MessageRouter(
            rules: RuleSetHolder(defaultRules), registry: threeOnlineAgents(), output: queues.sink)
        let headers: Headers = [
            "x-count": .int64(42), "x-nested": .table(["a": .array([.boolean(true), .bytes([0, 255])])]),
            "x-broker-reason": "stale stamp from an earlier trip",
        ]
        let properties = MessageProperties(
            contentType: "application/vnd.chat+json", messageID: "m-1", correlationID: "c-1", replyTo: "replies",
            timestamp: 1_700_000_000, headers: headers, native: TransportOnly(mode: 1, kind: "chat"))
        queues.enqueue(
            Array(#"{"message_type":"TEXT","sender_id":"agent_a","message_id":"t"}"#.utf8), properties: properties,
            to: "broker_input_queue")
        queues.enqueue(Array(#"{"message_type":"NOPE"}"#.utf8), properties: properties, to: "broker_input_queue")
        await drain(queues, router, expected: 2)
        var expected = properties
        expected.headers["x-broker-reason"] = nil
        #expect(queues.drain("server_input_queue").map(\.properties) == [expected], "the broker's namespace is its own")
        let dead = try #require(queues.drain("broker_dead_letter").first)
        #expect(dead.properties.correlationID == "c-1")
        #expect(dead.properties.native?.isEqual(to: TransportOnly(mode: 1, kind: "chat")) == true, "carried opaque")
        #expect(dead.headers["x-count"] == .int64(42) && dead.headers["x-nested"] == headers["x-nested"])
        #expect(dead.headers["x-broker-reason"]?.text?.contains("NOPE") == true)
    }

    @Test func aRoutedCopyOfAMessageWithoutPropertiesSaysItIsJSON() async throws {
        let queues = InMemoryQueues()
        let router = MessageRouter(
            rules: RuleSetHolder(defaultRules), registry: threeOnlineAgents(), output: queues.sink)
        queues.enqueue(Array(#"{"message_type":"TEXT","sender_id":"agent_a"}"#.utf8), to: "broker_input_queue")
        await drain(queues, router, expected: 1)
        #expect(
            queues.drain("server_input_queue").map(\.properties) == [MessageProperties(contentType: "application/json")]
        )
    }

    @Test func statusUpdatesOnTheInputQueueUpdateTheRegistry() async throws {
        let queues = InMemoryQueues()
        let registry = threeOnlineAgents()
        var configuration = RouterConfiguration()
        configuration.dataPathTrust = .full  // as the original broker: the data path may take agents offline
        let router = MessageRouter(
            rules: RuleSetHolder(defaultRules), registry: registry, output: queues.sink, configuration: configuration)
        queues.enqueue(
            Array(
                #"{"message_type":"AGENT_STATUS_UPDATE","agents":[{"agent_id":"agent_b","is_online":false}],"is_full_update":false}"#
                    .utf8), to: "broker_input_queue")
        await drain(queues, router, expected: 1)
        #expect(registry.snapshot.agent(id: "agent_b")?.isOnline == false)
        #expect(registry.snapshot.online.count == 2)
        #expect(queues.contents(of: "server_input_queue").isEmpty)
    }

    /// The adversarial pass: one full update with one fake agent on the input queue took every
    /// real agent offline and the next 20 messages went to `agent_evil`.
    @Test func theDataPathCannotTakeFeedKnownAgentsOfflineUnlessTrusted() async throws {
        let hijack = Array(
            #"{"message_type":"AGENT_STATUS_UPDATE","agents":[{"agent_id":"agent_evil","is_online":true},{"agent_id":"agent_b","is_online":false}],"is_full_update":true}"#
                .utf8)
        for trust in DataPathAdmission.Trust.allCases {
            let queues = InMemoryQueues()
            let registry = threeOnlineAgents()
            var configuration = RouterConfiguration()
            configuration.dataPathTrust = trust
            let router = MessageRouter(
                rules: RuleSetHolder(defaultRules), registry: registry, output: queues.sink,
                configuration: configuration)
            queues.enqueue(hijack, to: "broker_input_queue")
            await drain(queues, router, expected: 1)
            let online = Set(registry.snapshot.online.map { registry.snapshot.agentID(at: $0) })
            switch trust {
            case .feed:
                #expect(online == ["agent_a", "agent_b", "agent_c"], "the feed's agents stay online, no other enters")
            case .full:
                #expect(online == ["agent_evil"], "trusted: the original broker's behaviour")
            }
        }
        // REGISTER_AGENT / CLIENT_DISCONNECTED on the metadata queue: the same rule.
        let registry = threeOnlineAgents()
        let asked = Mutex<[String]>([])
        let handler = MetadataHandler(
            registry: registry, admission: DataPathAdmission(onUnknownAgents: { ids in asked.withLock { $0 += ids } }))
        #expect(!handler.apply(Array(#"{"message_type":"CLIENT_DISCONNECTED","client_id":"agent_a"}"#.utf8)))
        #expect(registry.snapshot.agent(id: "agent_a")?.isOnline == true)
        #expect(!handler.apply(Array(#"{"message_type":"REGISTER_AGENT","agent_id":"agent_new"}"#.utf8)))
        #expect(registry.snapshot.agent(id: "agent_new") == nil, "the feed decides which agents exist")
        #expect(asked.withLock { $0 } == ["agent_new"], "the feed is asked about it")
        // Trusted, the data path may add agents and take those it added offline.
        let trusted = MetadataHandler(registry: registry, admission: DataPathAdmission(trust: .full))
        #expect(trusted.apply(Array(#"{"message_type":"REGISTER_AGENT","agent_id":"agent_new"}"#.utf8)))
        #expect(trusted.apply(Array(#"{"message_type":"CLIENT_DISCONNECTED","agent_id":"agent_new"}"#.utf8)))
        #expect(registry.snapshot.agent(id: "agent_new")?.isOnline == false, "agents the data path added, it may")
    }

    /// One message on the input queue (which every agent can publish to) naming phantom agents
    /// took every decision: 200 of 200 went to them. The feed decides which agents exist.
    @Test(arguments: [1, 1_000])
    func phantomAgentsNamedOnTheDataPathAreNeverChosen(_ phantoms: Int) async throws {
        let queues = InMemoryQueues()
        let registry = threeOnlineAgents()
        let asked = Mutex<[String]>([])
        let router = MessageRouter(
            rules: RuleSetHolder(defaultRules), registry: registry, output: queues.sink,
            onUnknownAgents: { ids in asked.withLock { $0 += ids } })
        let records = (0..<phantoms).map { String(format: #"{"agent_id":"agent_ph%05d","is_online":true}"#, $0) }
        queues.enqueue(
            Array(
                #"{"message_type":"AGENT_STATUS_UPDATE","agents":[\#(records.joined(separator: ","))],"is_full_update":false}"#
                    .utf8), to: "broker_input_queue")
        await drain(queues, router, expected: 1, prefetch: 1)
        for i in 0..<200 {
            queues.enqueue(
                Array(#"{"message_type":"TEXT","sender_id":"web_1","message_id":"m\#(i)"}"#.utf8),
                to: "broker_input_queue")
        }
        await drain(queues, router, expected: 201)
        let receivers = queues.drain("server_input_queue").compactMap { try? Message(decoding: $0.body).receiverID }
        #expect(receivers.count == 200)
        #expect(receivers.allSatisfy { ["agent_a", "agent_b", "agent_c"].contains($0) }, "chosen: \(Set(receivers))")
        #expect(registry.snapshot.count == 3)
        #expect(router.dataPathAdmission.unconfirmed == phantoms)
        #expect(asked.withLock { $0.count } == phantoms, "the feed is asked (it answers for itself, rate-limited)")
    }

    /// Crossing the cap inside one message admitted 24,001 agents against a cap of 10,000: the
    /// agents that message had just added were taken for forgotten ones.
    @Test func theNewAgentCapHoldsWhenAMessageCrossesIt() async throws {
        let registry = threeOnlineAgents()
        let limit = DataPathAdmission(maximumRecordsPerMessage: 1_000, maximumNewAgents: 500, trust: .full)
        for batch in 0..<3 {
            let records = (0..<400).map { AgentStatusRecord(agentID: "agent_x\(batch)_\($0)", isOnline: true) }
            limit.apply(AgentStatusUpdate(agents: records, isFullUpdate: false), to: registry)
        }
        #expect(registry.snapshot.count == 3 + 500)
        #expect(limit.refused == 3 * 400 - 500)
    }

    @Test func statusUpdatesFromTheDataPathAddBoundedNumbersOfAgents() async throws {
        let queues = InMemoryQueues()
        let registry = threeOnlineAgents()
        var configuration = RouterConfiguration()
        configuration.maximumDataPathRecordsPerMessage = 100
        configuration.dataPathTrust = .full
        configuration.maximumDataPathAgents = 500
        let router = MessageRouter(
            rules: RuleSetHolder(defaultRules), registry: registry, output: queues.sink, configuration: configuration)
        // 20 messages of 200 new agents each (the adversarial pass sent 20,000 each and grew
        // the registry to 400,011 agents).
        for batch in 0..<20 {
            let records = (0..<200).map { #"{"agent_id":"agent_x\#(batch)_\#($0)","is_online":true}"# }
            queues.enqueue(
                Array(
                    #"{"message_type":"AGENT_STATUS_UPDATE","agents":[\#(records.joined(separator: ","))],"is_full_update":false}"#
                        .utf8), to: "broker_input_queue")
        }
        // Known agents are always updated.
        queues.enqueue(
            Array(
                #"{"message_type":"AGENT_STATUS_UPDATE","agents":[{"agent_id":"agent_a","is_online":false}],"is_full_update":false}"#
                    .utf8), to: "broker_input_queue")
        await drain(queues, router, expected: 21)
        #expect(registry.snapshot.count == 3 + 500, "at most 100 per message, 500 new in all")
        #expect(router.dataPathAdmission.refused == 20 * 200 - 500)
        #expect(registry.snapshot.agent(id: "agent_a")?.isOnline == false)
    }
}

/// Reports the first `failures` publishes as lost with the connection.
final class FlakySink: OutboundSink {
    let inner: InMemorySink
    let remaining: Atomic<Int>

    init(inner: InMemorySink, failures: Int) {
        self.inner = inner
        self.remaining = Atomic(failures)
    }

    func run() async {}
    func beginGracefulShutdown() {}
    var health: TransportHealth { inner.health }

    func publish(_ message: OutboundMessage) async -> PublishResult {
        if remaining.subtract(1, ordering: .relaxed).oldValue > 0 { return .unknown(reason: "connection lost") }
        return await inner.publish(message)
    }
}

@Suite(.timeLimit(.minutes(10))) struct DeadLetterReasonTests {
    @Test func longReasonsAreCutOnACharacterBoundaryAndSayHowLongTheyWere() {
        let short = "unknown message_type 'FOO'"
        #expect(MessageRouter.bounded(short, toBytes: 1024) == short)
        let long = "unknown message_type '" + String(repeating: "é😀", count: 50_000) + "'"
        let cut = MessageRouter.bounded(long, toBytes: 1024)
        #expect(cut.utf8.count <= 1024)
        #expect(cut.hasPrefix("unknown message_type 'é😀"))
        #expect(cut.hasSuffix("… (\(long.utf8.count) bytes in all)"))
        #expect(String(validating: Array(cut.utf8), as: UTF8.self) == cut)
    }
}

/// Properties only the input's transport knows: the router carries them without reading them.
struct TransportOnly: NativeProperties, Hashable {
    var mode: UInt8
    var kind: String
}
