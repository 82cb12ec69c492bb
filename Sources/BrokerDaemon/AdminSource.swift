import BrokerCore
import BrokerRouter
import RoutingRules

/// One `/readyz` check: its name, whether it passes, and what an operator reads about it.
public struct ReadinessCheck: Sendable, Equatable {
    public var check: String
    public var ok: Bool
    public var detail: String

    public init(check: String, ok: Bool, detail: String) {
        self.check = check
        self.ok = ok
        self.detail = detail
    }
}

/// What the admin API and the console read and do, and nothing else: the broker as an operator
/// sees it through HTTP. ``Daemon`` is one; the routes (``AdminAPI``, ``Console``) know only
/// this protocol.
public protocol AdminSource: Sendable {
    /// `/readyz`, check by check.
    var readiness: [ReadinessCheck] { get }
    /// `/metrics` in the Prometheus text format.
    func renderMetrics() -> [UInt8]

    /// The rules in force and the outcome of the last reload.
    var rulesStatus: RuleReloader.Status { get }
    /// The rule set in force.
    var ruleSet: RuleSet { get }
    /// Reloads the rules (and the shadow rules, which are reported in ``shadow``); the result is
    /// the live rules'.
    func reloadRules(reason: String) async -> RuleReloader.Result

    /// The registry as it is now.
    var agents: AgentRegistry.Snapshot { get }
    /// Messages held back until the agents of a warm-up reconnect.
    var messagesWaitingForAgents: Int { get }

    /// Decisions so far, by route and outcome.
    var decisionCounts: DecisionObserver.DecisionCounts { get }
    /// Deliveries so far, by agent id.
    var deliveriesByAgent: [String: Int] { get }
    /// The latest decisions, newest first.
    func recentDecisions(limit: Int) -> [RoutingRecord]
    /// The candidate rules decided beside the live ones, when there are any.
    var shadow: ShadowRules? { get }
}

extension Daemon: AdminSource {
    public var rulesStatus: RuleReloader.Status { reloader.status }
    public var ruleSet: RuleSet { reloader.holder.current }

    public func reloadRules(reason: String) async -> RuleReloader.Result {
        if let shadow { await shadow.reloader.reload(reason: reason) }
        return await reloader.reload(reason: reason)
    }

    public var agents: AgentRegistry.Snapshot { registry.snapshot }
    public var messagesWaitingForAgents: Int { router.statistics.waitingForAgents }
    public var decisionCounts: DecisionObserver.DecisionCounts { decisionObserver.decisionCounts }
    public var deliveriesByAgent: [String: Int] { decisionObserver.deliveriesByAgent }
    public func recentDecisions(limit: Int) -> [RoutingRecord] { decisionObserver.recentDecisions(limit: limit) }
}
