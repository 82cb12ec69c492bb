import BrokerCore
import Foundation
import RoutingRules

/// Receives every routed message's record (metrics, the decision log, registry refreshes).
public protocol RouterObserver: Sendable {
    func observe(_ record: RoutingRecord)
}

/// One message's trip through the router.
public struct RoutingRecord: Sendable {
    public var at = Date()
    /// The rule set in force (the one that decided, when the message was decoded).
    public var ruleSet: RuleSet
    public var message: Message?
    public var snapshot: AgentRegistry.Snapshot?
    /// The seed of the random choices: replaying with it reproduces the decision.
    public var seed: UInt64 = 0
    public var decision: Decision?
    /// Time spent evaluating the rules (not publishing).
    public var evaluation: Duration = .zero
    public var outcome: RoutingOutcome = .requeued(reason: "in progress")
    /// The size of the message as it arrived, in bytes.
    public var bodySize = 0
    /// Whether the message, its decision and snapshot were left off to bound what a log of
    /// records holds (``trimmed()``).
    public var isTrimmed = false
    /// The message id and the deciding route, kept when the message is trimmed away.
    public var messageID: String?
    public var routeName: String?

    /// The record without the message, decision and snapshot: what a log keeps of a large
    /// message (the id, route and outcome stay).
    public func trimmed() -> RoutingRecord {
        var copy = self
        copy.messageID = message?.messageID
        copy.routeName = decision?.route
        copy.message = nil
        copy.decision = nil
        copy.snapshot = nil
        copy.isTrimmed = true
        return copy
    }

    public init(ruleSet: RuleSet) { self.ruleSet = ruleSet }
}

/// What the router did with one message.
public enum RoutingOutcome: Sendable, Hashable {
    case published(count: Int, route: String?)
    case deadLettered(code: String, reason: String)
    case dropped(reason: String)
    case statusApplied(agents: Int, problems: Int)
    case requeued(reason: String)
}
