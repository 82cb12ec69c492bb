import RoutingRules
import Synchronization

/// The rule set in force, swapped atomically on reload; each message is decided by the rule
/// set it started with.
public final class RuleSetHolder: Sendable {
    private let ruleSet: Mutex<RuleSet>

    public init(_ ruleSet: RuleSet) { self.ruleSet = Mutex(ruleSet) }

    /// The rule set in force.
    public var current: RuleSet { ruleSet.withLock { $0 } }

    /// Puts `new` in force for messages that start from now on.
    public func replace(with new: RuleSet) { ruleSet.withLock { $0 = new } }
}
