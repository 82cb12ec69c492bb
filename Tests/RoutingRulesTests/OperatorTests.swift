import BrokerCore
import Foundation
import RoutingRules
import Testing

/// Each operator, as a route condition that either takes the message or lets it fall through.
@Suite(.timeLimit(.minutes(10))) struct OperatorTests {
    func matches(_ condition: String, _ json: String, agents: AgentRegistry.Snapshot = snapshot([])) throws -> Bool {
        let rules = try compile(
            """
            version: 1
            defaults: { on_no_route: drop }
            routes:
              - name: hit
                when: \(condition)
                deliver: as_is
            """)
        return try rules.decide(json, agents).route == "hit"
    }

    @Test func equalityAndNotEqual() throws {
        #expect(try matches("{ message.message_type: TEXT }", #"{"message_type":"TEXT"}"#))
        #expect(try !matches("{ message.message_type: TEXT }", #"{"message_type":"REPLY"}"#))
        #expect(try matches("{ message.priority: 3 }", #"{"priority":3.0}"#))
        #expect(try matches("{ message.priority: 3 }", #"{"priority":"3"}"#))
        #expect(try matches("{ message.flag: true }", #"{"flag":true}"#))
        #expect(try matches("{ message.meta.team: red }", #"{"meta":{"team":"red"}}"#))
        #expect(try matches("{ message.routing_status: { ne: error } }", #"{}"#))
        #expect(try !matches("{ message.routing_status: { ne: error } }", #"{"routing_status":"error"}"#))
    }

    @Test func membership() throws {
        #expect(try matches("{ message.message_type: { in: [TEXT, REPLY] } }", #"{"message_type":"REPLY"}"#))
        #expect(try !matches("{ message.message_type: { in: [TEXT, REPLY] } }", #"{"message_type":"SYSTEM"}"#))
        #expect(try matches("{ message.message_type: { not_in: [TEXT] } }", #"{"message_type":"SYSTEM"}"#))
    }

    @Test func existence() throws {
        #expect(try matches("{ message.receiver_id: { exists: true } }", #"{"receiver_id":"a"}"#))
        #expect(try !matches("{ message.receiver_id: { exists: true } }", #"{"receiver_id":null}"#))
        #expect(try matches("{ message.receiver_id: { exists: false } }", #"{}"#))
    }

    @Test func textOperators() throws {
        #expect(try matches("{ message.sender_id: { prefix: agent_ } }", #"{"sender_id":"agent_1"}"#))
        #expect(try matches("{ message.sender_id: { suffix: _1 } }", #"{"sender_id":"agent_1"}"#))
        #expect(try matches("{ message.text_payload: { contains: refund } }", #"{"text_payload":"a refund please"}"#))
        #expect(try matches("{ message.tags: { contains: vip } }", #"{"tags":["new","vip"]}"#))
        #expect(try !matches("{ message.tags: { contains: vip } }", #"{"tags":["new"]}"#))
        #expect(
            try matches(
                #"{ message.text_payload: { matches: "(?i)invoice|refund" } }"#, #"{"text_payload":"My INVOICE"}"#))
        #expect(try !matches(#"{ message.text_payload: { matches: "^refund$" } }"#, #"{"text_payload":"no refund"}"#))
    }

    @Test func numericComparisonsCoerceStringsAndSkipNonNumbers() throws {
        #expect(try matches("{ message.size: { lt: 10 } }", #"{"size":9}"#))
        #expect(try matches("{ message.size: { le: 10 } }", #"{"size":"10"}"#))
        #expect(try !matches("{ message.size: { gt: 10 } }", #"{"size":"ten"}"#))
        #expect(try matches("{ message.size: { ge: 10, lt: 11 } }", #"{"size":10.5}"#))
    }

    @Test func withinComparesTimestampsToNow() throws {
        let now = Date()
        let recent = ISO8601DateFormatter().string(from: now.addingTimeInterval(-10))
        let old = ISO8601DateFormatter().string(from: now.addingTimeInterval(-3600))
        #expect(try matches("{ message.send_timestamp: { within: 30s } }", #"{"send_timestamp":"\#(recent)"}"#))
        #expect(try !matches("{ message.send_timestamp: { within: 5m } }", #"{"send_timestamp":"\#(old)"}"#))
        #expect(try !matches("{ message.send_timestamp: { within: 5m } }", #"{"send_timestamp":"yesterday"}"#))
    }

    @Test func combinators() throws {
        let condition = "{ any: [{ message.a: 1 }, { message.b: 1 }], not: { message.c: 1 } }"
        #expect(try matches(condition, #"{"b":1}"#))
        #expect(try !matches(condition, #"{"b":1,"c":1}"#))
        #expect(try !matches(condition, #"{"d":1}"#))
        #expect(try matches("{ all: [{ message.a: 1 }, { message.b: 2 }] }", #"{"a":1,"b":2}"#))
    }

    @Test func senderAndReceiverSubjectsReadTheRegistry() throws {
        let agents = snapshot([("agent_a", true, ["tier": "gold"]), ("agent_b", false, [:])])
        #expect(try matches("{ sender.metrics.tier: gold }", #"{"sender_id":"agent_a"}"#, agents: agents))
        #expect(
            try matches(
                "{ receiver.known: true, receiver.online: false }", #"{"receiver_id":"agent_b"}"#, agents: agents))
        #expect(try matches("{ receiver.known: false }", #"{"receiver_id":"bob"}"#, agents: agents))
        #expect(
            try matches(
                "{ message.receiver_id: { same_as: message.sender_id } }", #"{"sender_id":"x","receiver_id":"x"}"#))
        #expect(try matches("{ registry.online_count: { ge: 1 } }", "{}", agents: agents))
    }
}

/// Strategies, counts, outputs, templates and actions.
@Suite(.timeLimit(.minutes(10))) struct ActionTests {
    let agents = snapshot([
        ("agent_a", true, ["load": "0.7", "skill": "billing"]),
        ("agent_b", true, ["load": "0.2", "skill": "billing"]),
        ("agent_c", true, ["load": "0.1", "skill": "support"]),
        ("agent_d", false, ["load": "0.0", "skill": "billing"]),
    ])

    func rules(_ select: String, extra: String = "") throws -> RuleSet {
        try compile(
            """
            version: 1
            routes:
              - name: pick
                \(extra)
                select: \(select)
                otherwise: { error_to_server: "nobody" }
            """)
    }

    @Test func leastAndMostOrderByAMetric() throws {
        #expect(
            try rules("{ strategy: { least: metrics.load } }").decide("{}", agents).deliveries.first?.agentID
                == "agent_c")
        #expect(
            try rules("{ strategy: { most: metrics.load } }").decide("{}", agents).deliveries.first?.agentID
                == "agent_a")
    }

    @Test func metricEqualityUsesTheIndexAndOfflineAgentsAreSkipped() throws {
        let ruleSet = try rules("{ agents: { metrics.skill: billing }, strategy: { least: metrics.load } }")
        #expect(ruleSet.indexedMetricKeys == ["skill"])
        let indexed = AgentRegistry.Snapshot(agents: agents.agents, indexedMetricKeys: ruleSet.indexedMetricKeys)
        for registry in [agents, indexed] {
            #expect(try ruleSet.decide("{}", registry).deliveries.first?.agentID == "agent_b")
        }
    }

    @Test func randomIsUniformOverQualifyingAgentsAndExcludesTheSender() throws {
        let ruleSet = try rules("{ exclude: [sender], strategy: random }")
        var counts: [String: Int] = [:]
        for seed in 0..<3000 {
            let agent = try ruleSet.decide(#"{"sender_id":"agent_a"}"#, agents, seed: UInt64(seed)).deliveries.first?
                .agentID
            counts[agent ?? "none", default: 0] += 1
        }
        #expect(Set(counts.keys) == ["agent_b", "agent_c"])
        #expect(counts.values.allSatisfy { $0 > 1300 })
    }

    @Test func roundRobinCyclesInAgentIDOrder() throws {
        let ruleSet = try rules("{ strategy: round_robin }")
        let picks = try (0..<6).map { _ in try ruleSet.decide("{}", agents).deliveries.first?.agentID ?? "" }
        #expect(picks == ["agent_a", "agent_b", "agent_c", "agent_a", "agent_b", "agent_c"])
    }

    @Test func firstTakesTheLowestAgentID() throws {
        #expect(
            try rules("{ strategy: first, exclude: [receiver] }").decide(#"{"receiver_id":"agent_a"}"#, agents)
                .deliveries.first?.agentID == "agent_b")
    }

    @Test func countAndBroadcast() throws {
        let all = try rules("{ count: all, strategy: first }").decide(#"{"m":1}"#, agents)
        #expect(all.deliveries.map(\.agentID) == ["agent_a", "agent_b", "agent_c"])
        let two = try rules("{ count: 2, strategy: { least: metrics.load } }").decide("{}", agents)
        #expect(two.deliveries.map(\.agentID) == ["agent_c", "agent_b"])
    }

    @Test func noQualifyingAgentFollowsOtherwiseWithTheOriginalErrorShape() throws {
        let decision = try rules("{ agents: { metrics.skill: legal } }").decide(
            #"{"message_id":"m1","sender_id":"s","text_payload":"hi","extra":1}"#, agents)
        #expect(decision.route == "pick/otherwise")
        #expect(
            decision.deliveries.first?.message.jsonText
                == #"{"message_id":"m1","message_type":"ERROR","sender_id":"s","receiver_id":"Server","routing_status":"nobody","text_payload":"hi"}"#
        )
    }

    @Test func outputTemplatesAndEditsSeeTheChosenAgent() throws {
        let ruleSet = try compile(
            """
            version: 1
            routes:
              - name: per-agent
                remove: [_client_id]
                set: { routed_by: "{route.name}", agent_name: "{agent.agent_name}", hops: 1 }
                set_if_absent: { routing_status: routed }
                select: { strategy: first }
                output: "agent_queue_{agent.agent_id}"
            """)
        let delivery = try #require(
            try ruleSet.decide(#"{"_client_id":"x","routing_status":"pending"}"#, agents).deliveries.first)
        #expect(delivery.destination == .queue("agent_queue_agent_a"))
        #expect(
            delivery.message.jsonText
                == #"{"routing_status":"pending","routed_by":"per-agent","agent_name":"AGENT_A","hops":1,"receiver_id":"agent_a"}"#
        )
    }

    @Test func exchangeOutputsAndTerminalActions() throws {
        let ruleSet = try compile(
            """
            version: 1
            defaults: { dead_letter: dlq }
            routes:
              - name: audit
                when: { message.message_type: AUDIT }
                deliver: as_is
                output: { exchange: audit, routing_key: "audit.{message.team}" }
              - name: spam
                when: { message.message_type: SPAM }
                drop: "spam is dropped on purpose"
              - name: quarantine
                dead_letter: "quarantined {message.message_type}"
            """)
        #expect(
            try ruleSet.decide(#"{"message_type":"AUDIT","team":"red"}"#, agents).deliveries.first?.destination
                == .exchange("audit", routingKey: "audit.red"))
        #expect(
            try ruleSet.decide(#"{"message_type":"SPAM"}"#, agents).outcome
                == .drop(reason: "spam is dropped on purpose"))
        #expect(
            try ruleSet.decide(#"{"message_type":"X"}"#, agents).outcome
                == .deadLetter(reason: "quarantined X", queue: "dlq"))
    }

    @Test func unmatchedMessagesFollowOnNoRoute() throws {
        let ruleSet = try compile(
            "version: 1\nroutes:\n  - name: only-text\n    when: { message.message_type: TEXT }\n    deliver: as_is\n")
        let decision = try ruleSet.decide(#"{"message_type":"OTHER"}"#, agents)
        #expect(decision.route == nil)
        #expect(decision.outcome == .deadLetter(reason: "no route matched", queue: "broker_dead_letter"))
    }

    @Test func agentPlaceholdersOutsideSelectionsAreRejected() {
        let found = diagnostics(
            "version: 1\nroutes:\n  - name: a\n    set: { x: \"{agent.agent_id}\" }\n    deliver: as_is\n")
        #expect(found == ["test.yaml:4:15: error: '{agent.agent_id}' is only available in routes that select an agent"])
    }

    @Test func manyRoutesDispatchThroughTheIndex() throws {
        var yaml = "version: 1\nroutes:\n"
        for i in 0..<2000 {
            yaml +=
                "  - name: r\(i)\n    when: { message.message_type: T\(i % 20), message.sender_id: s\(i) }\n    deliver: as_is\n"
        }
        let ruleSet = try compile(yaml)
        #expect(try ruleSet.decide(#"{"message_type":"T7","sender_id":"s1987"}"#, agents).route == "r1987")
        var random = FastRandom(seed: 1)
        let explanation = ruleSet.explain(
            try message(#"{"message_type":"T7","sender_id":"s1987"}"#), in: agents, random: &random)
        #expect(explanation.skippedByIndex >= 1990)
    }
}
