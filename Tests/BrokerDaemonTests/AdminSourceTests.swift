import BrokerCore
import BrokerDaemon
import BrokerRouter
import Foundation
import RoutingRules
import Synchronization
import TestSupport
import Testing

/// The admin API and the console read and do only what ``AdminSource`` offers: any source can
/// be served, and what it says is what an operator sees.
@Suite(.timeLimit(.minutes(10))) struct AdminSourceTests {
    /// A broker that is not ready (its input is down), with one rule set, no agents, one
    /// decision counted, and reloads that are only counted.
    final class Source: AdminSource {
        let ruleSet = RuleSetLoader().load([
            RuleSource(name: "r.yaml", text: "version: 1\nroutes:\n  - { name: all, deliver: as_is }\n")
        ]).ruleSet!
        let reloads = Mutex(0)

        var readiness: [ReadinessCheck] {
            [
                ReadinessCheck(check: "rules", ok: true, detail: "loaded"),
                ReadinessCheck(check: "input", ok: false, detail: "down: pulled by the test"),
            ]
        }
        func renderMetrics() -> [UInt8] { Array("# a source's own metrics\nsource_up 1\n".utf8) }
        var rulesStatus: RuleReloader.Status {
            RuleReloader.Status(ruleSet, loadedAt: Date(timeIntervalSince1970: 0), reloads: reloads.withLock { $0 })
        }
        func reloadRules(reason: String) async -> RuleReloader.Result {
            reloads.withLock { $0 += 1 }
            return .unchanged(hash: ruleSet.hash)
        }
        var agents: AgentRegistry.Snapshot { AgentRegistry().snapshot }
        var messagesWaitingForAgents: Int { 0 }
        var decisionCounts: DecisionObserver.DecisionCounts {
            DecisionObserver.DecisionCounts(total: 1, byRoute: ["all": ["published": 1]])
        }
        var deliveriesByAgent: [String: Int] { [:] }
        func recentDecisions(limit: Int) -> [RoutingRecord] { [] }
        var shadow: ShadowRules? { nil }
    }

    @Test func theAdminServerShowsWhatItsSourceSaysAndAsksItToReload() async throws {
        let source = Source()
        var configuration = AdminServer.Configuration()
        configuration.port = 0
        let server = AdminServer(configuration: configuration)
        let serving = Task { try await server.run(source: source) }
        defer { serving.cancel() }
        #expect(await server.waitUntilListening())
        let base = "http://127.0.0.1:\(server.port)"

        let ready = try await exchange("GET", base + "/readyz")
        #expect(ready.status == 503 && ready.body.contains("down: pulled by the test"), "\(ready)")
        #expect(try await exchange("GET", base + "/metrics").body.contains("source_up 1"))
        let rules = try await exchange("GET", base + "/rules")
        #expect(rules.body.contains(source.ruleSet.hash) && rules.body.contains(#""reloads":0"#), "\(rules.body)")
        let stats = try await exchange("GET", base + "/stats")
        #expect(stats.body.contains(#""routes":{"all":{"published":1}}"#), "\(stats.body)")

        let reload = try await exchange("POST", base + "/-/reload")
        #expect(reload.status == 200 && reload.body.contains(#""status":"loaded""#), "\(reload)")
        #expect(source.reloads.withLock { $0 } == 1)
        #expect(try await exchange("GET", base + "/rules").body.contains(#""reloads":1"#))
    }
}
