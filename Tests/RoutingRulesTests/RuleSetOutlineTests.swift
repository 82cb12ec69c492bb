import BrokerCore
import Foundation
import RoutingRules
import TestSupport
import Testing

@Suite(.timeLimit(.minutes(10))) struct RuleSetOutlineTests {
    @Test func theDefaultRulesAreOutlinedInEvaluationOrderWithTheirChainsAndTheFallbackLast() throws {
        let url = repositoryRoot.appendingPathComponent("rules/default.yaml")
        let ruleSet = try compile(try String(contentsOf: url, encoding: .utf8), file: "rules/default.yaml")
        let outline = RuleSetOutline(ruleSet)
        #expect(
            outline.routes.map(\.name) == [
                "agent-status-update", "error-pending", "error-to-server", "direct-to-known-receiver",
                "random-online-agent", "random-online-agent/otherwise", "random-online-agent/otherwise/otherwise",
                "missing-message-type", "on_no_route",
            ])
        #expect(outline.routes.map(\.kind.rawValue).filter { $0 == "otherwise" }.count == 2)
        #expect(outline.routes.last?.kind == .fallback)
        let random = try #require(outline.routes.first { $0.name == "random-online-agent" })
        #expect(random.when == #"message.message_type in ["TEXT", "REPLY", "SYSTEM"]"#)
        #expect(random.action == "select 1 agent where agent.online == true, not the sender")
        #expect(random.strategy == "random")
        #expect(random.edits.contains("remove _client_id"))
        #expect(random.edits.contains("set routing_status = \"routed\""))
        #expect(random.otherwise == "random-online-agent/otherwise")
        #expect(random.location.file == "rules/default.yaml" && random.location.line > 1)
        let inline = outline.routes[5]
        #expect(inline.when == "sender.online == true")
        #expect(inline.action == "error to server: \"Only the sending agent is online. Routing failed.\"")
        #expect(inline.otherwise == "random-online-agent/otherwise/otherwise")
        #expect(outline.routes[8].action.hasPrefix("dead-letter to broker_dead_letter: \"unknown message_type"))
    }

    @Test func anOtherwiseNamingAnotherTopLevelRouteIsAnEdgeNotACopy() throws {
        let ruleSet = try compile(
            """
            version: 1
            routes:
              - name: billing
                when: { message.text_payload: { matches: "invoice" } }
                select: { agents: { metrics.skill: billing }, strategy: { least: metrics.load } }
                output: { queue: "billing_{agent.agent_id}" }
                otherwise: general
              - name: general
                select: { agents: { online: true }, strategy: round_robin }
            """)
        let outline = RuleSetOutline(ruleSet)
        #expect(outline.routes.map(\.name) == ["billing", "general", "on_no_route"])
        #expect(outline.routes[0].otherwise == "general")
        #expect(outline.routes[0].strategy == "least metrics.load")
        #expect(outline.routes[0].output == "queue billing_{agent.agent_id}")
        #expect(outline.routes[1].when == "always")
        #expect(outline.routes[1].strategy == "round robin")
    }
}
