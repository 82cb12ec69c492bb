import BrokerCore
import Foundation

/// Which parts of a rule set a run of rule tests exercised (`broker test-rules --coverage`).
///
/// Three kinds of item are counted, each with the location it was written at:
/// - every route (named, or an inline `otherwise` route): exercised when it decided a case (its
///   `when` held and it delivered, dead-lettered or dropped, rather than following `otherwise`);
/// - the two branches of every route's `when` (it holds, it fails), and each alternative of an
///   `any:` in it (this alternative held): a test suite that never sees a route's condition
///   fail has not shown that the route leaves other messages alone;
/// - every `otherwise` link: exercised when a case followed it.
public struct RuleCoverage: Sendable {
    /// What an item stands for.
    public enum Kind: String, Sendable, CaseIterable {
        case route
        case branch
        case otherwise
    }

    /// One thing a test can exercise.
    public struct Item: Sendable, Hashable {
        public var kind: Kind
        /// The route the item belongs to.
        public var route: String
        /// What exercising it means, e.g. "when fails" or "otherwise → urgent-any-senior".
        public var description: String
        public var location: SourceLocation
        /// How many evaluations exercised it.
        public var hits: Int
    }

    public private(set) var items: [Item] = []
    private let ruleSet: RuleSet
    /// Route slot → the indices of its items: route, holds, fails, then one per `any` alternative.
    private var routeItems: [[Int]] = []
    private var linkItem: [Int?] = []
    private var slotByName: [String: Int] = [:]
    /// Per route, its `any:` nodes' alternatives in the order their items were made.
    private var alternatives: [[Predicate]] = []

    /// Every item of `ruleSet`, none exercised yet.
    public init(ruleSet: RuleSet) {
        self.ruleSet = ruleSet
        for (slot, route) in ruleSet.routes.enumerated() {
            slotByName[route.name] = slot
            var indices = [add(.route, route, "decides", route.location)]
            var found: [Predicate] = []
            if case .always = route.when {
            } else {
                indices.append(add(.branch, route, "when holds", route.location))
                indices.append(add(.branch, route, "when fails", route.location))
                Self.collectAlternatives(route.when, into: &found)
                for (number, alternative) in found.enumerated() {
                    let text = EvaluationContext.describe(alternative)
                    indices.append(
                        add(.branch, route, "any alternative \(number + 1) holds: \(text)", route.location))
                }
            }
            routeItems.append(indices)
            alternatives.append(found)
            linkItem.append(nil)
        }
        for (slot, route) in ruleSet.routes.enumerated() {
            guard let target = route.otherwise else { continue }
            linkItem[slot] = add(.otherwise, route, "otherwise → \(ruleSet.routes[target].name)", route.location)
        }
    }

    private mutating func add(_ kind: Kind, _ route: CompiledRoute, _ text: String, _ at: SourceLocation) -> Int {
        items.append(Item(kind: kind, route: route.name, description: text, location: at, hits: 0))
        return items.count - 1
    }

    private static func collectAlternatives(_ predicate: Predicate, into found: inout [Predicate]) {
        switch predicate {
        case .all(let items): for item in items { collectAlternatives(item, into: &found) }
        case .any(let items):
            for item in items {
                found.append(item)
                collectAlternatives(item, into: &found)
            }
        case .always, .not, .test, .field, .agentState: break
        }
    }

    /// Counts what the evaluation `explanation` (of `message` in `snapshot` at `now`) exercised.
    public mutating func record(
        _ explanation: Explanation, message: Message, snapshot: AgentRegistry.Snapshot, now: Date?
    ) {
        var context = EvaluationContext(message: message.body, snapshot: snapshot, now: now)
        var previous: Int?
        var inChain = false
        for step in explanation.steps {
            guard let slot = slotByName[step.route], step.location == ruleSet.routes[slot].location else {
                previous = nil
                continue
            }
            let indices = routeItems[slot]
            if inChain, let from = previous, ruleSet.routes[from].otherwise == slot, let link = linkItem[from] {
                items[link].hits += 1
            }
            let matched = if case .notMatched = step.result { false } else { true }
            if indices.count > 1 { items[indices[matched ? 1 : 2]].hits += 1 }
            markAlternatives(of: slot, in: &context)
            if matched { inChain = true }
            previous = slot
        }
        // A route taken may still find no agent its strategy accepts and follow `otherwise`.
        if let decided = explanation.decision.route, let slot = slotByName[decided] {
            items[routeItems[slot][0]].hits += 1
        }
        // The index is an optimisation: a route it skipped was not matched all the same.
        for skipped in explanation.skipped {
            guard let slot = slotByName[skipped.route], routeItems[slot].count > 1 else { continue }
            items[routeItems[slot][2]].hits += 1
            markAlternatives(of: slot, in: &context)
        }
    }

    /// Counts the `any:` alternatives of route `slot` that hold for the message in `context`.
    private mutating func markAlternatives(of slot: Int, in context: inout EvaluationContext) {
        context.routeName = ruleSet.routes[slot].name
        for (number, alternative) in alternatives[slot].enumerated() where context.holds(alternative) {
            items[routeItems[slot][3 + number]].hits += 1
        }
    }

    /// The items exercised at least once.
    public var covered: [Item] { items.filter { $0.hits > 0 } }
    /// The items no case exercised.
    public var missed: [Item] { items.filter { $0.hits == 0 } }

    /// Exercised items as a percentage of all (100 for a rule set with nothing to exercise).
    public var percent: Double {
        items.isEmpty ? 100 : Double(covered.count) * 100 / Double(items.count)
    }

    /// Covered and total items of one kind.
    public func count(_ kind: Kind) -> (covered: Int, total: Int) {
        let ofKind = items.filter { $0.kind == kind }
        return (ofKind.filter { $0.hits > 0 }.count, ofKind.count)
    }
}
