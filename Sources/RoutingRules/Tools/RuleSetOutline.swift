import BrokerCore

/// A compiled rule set described in words, route by route: what the admin console draws.
///
/// Routes come in evaluation order: each top-level route, followed by the inline `otherwise`
/// routes of its chain; then `on_no_route`, the fallback when no top-level route matches.
public struct RuleSetOutline: Sendable, Hashable {
    /// One route.
    public struct Route: Sendable, Hashable {
        /// The name as written, or `parent/otherwise` for an inline route.
        public var name: String
        public var location: SourceLocation
        /// What the route is: a top-level route, an inline `otherwise` route, or the fallback.
        public var kind: Kind
        /// The `when` condition ("always" when it has none).
        public var when: String
        /// What it does, e.g. "select 1 agent where agent.online == true, not the sender".
        public var action: String
        /// How a selecting route picks ("random", "least metrics.load"), `nil` otherwise.
        public var strategy: String?
        /// Field edits in the order they apply ("remove _client_id", "set routing_status = routed").
        public var edits: [String]
        /// Where it publishes when not the rule set's default output.
        public var output: String?
        /// The route tried next when this one finds no agent, by name.
        public var otherwise: String?
    }

    /// What a route is in the evaluation order.
    public enum Kind: String, Sendable, Hashable {
        case topLevel = "route"
        case inline = "otherwise"
        case fallback = "on_no_route"
    }

    public var routes: [Route]

    /// The outline of `ruleSet`.
    public init(_ ruleSet: RuleSet) {
        let topLevel = ruleSet.topLevel.map(Int.init)
        let isTopLevel = Set(topLevel)
        var order: [Int] = []
        var placed = Set<Int>()
        for slot in topLevel {
            order.append(slot)
            placed.insert(slot)
            // The inline routes of this chain come right after it (they can be reached from nowhere else).
            var next = ruleSet.routes[slot].otherwise
            while let target = next, !isTopLevel.contains(target), !placed.contains(target) {
                order.append(target)
                placed.insert(target)
                next = ruleSet.routes[target].otherwise
            }
        }
        routes = order.map { Self.describe(ruleSet.routes[$0], isTopLevel.contains($0) ? .topLevel : .inline, ruleSet) }
        routes.append(Self.describe(ruleSet.onNoRoute, .fallback, ruleSet))
    }

    private static func describe(_ route: CompiledRoute, _ kind: Kind, _ ruleSet: RuleSet) -> Route {
        var strategy: String?
        let action: String
        switch route.action {
        case .deliver: action = "deliver as is"
        case .select(let selection):
            let count = count(selection.count)
            var text = "select \(count) \(count == "1" ? "agent" : "agents") where \(selection.description)"
            if selection.excludeSender { text += ", not the sender" }
            if selection.excludeReceiver { text += ", not the receiver" }
            if selection.assignTo != "receiver_id" { text += ", into \(selection.assignTo)" }
            action = text
            strategy = describe(selection.strategy)
        case .errorToServer(let template): action = "error to server: \"\(template.text)\""
        case .deadLetter(let template): action = "dead-letter to \(ruleSet.deadLetterQueue): \"\(template.text)\""
        case .drop(let template): action = "drop: \"\(template.text)\""
        case .statusUpdate: action = "apply as an agent status update (publish nothing)"
        }
        var edits = route.edits.remove.map { "remove \($0)" }
        edits += route.edits.set.map { "set \($0.0) = \(text($0.1))" }
        edits += route.edits.setIfAbsent.map { "set \($0.0) = \(text($0.1)) if absent" }
        return Route(
            name: route.name, location: route.location, kind: kind, when: EvaluationContext.describe(route.when),
            action: action, strategy: strategy, edits: edits, output: route.output.map(describe),
            otherwise: route.otherwise.map { ruleSet.routes[$0].name })
    }

    private static func count(_ count: SelectionCount) -> String {
        switch count {
        case .exactly(let n): "\(n)"
        case .all: "all"
        }
    }

    private static func describe(_ strategy: Strategy) -> String {
        switch strategy {
        case .random: "random"
        case .roundRobin: "round robin"
        case .first: "first"
        case .least(let field): "least \(field)"
        case .most(let field): "most \(field)"
        case .hash(let subject): "hash of \(subject)"
        }
    }

    private static func describe(_ destination: DestinationTemplate) -> String {
        switch destination {
        case .queue(let name): "queue \(name.text)"
        case .exchange(let name, let key): "exchange \(name.text), routing key \(key.text)"
        }
    }

    private static func text(_ value: AssignedValue) -> String {
        switch value {
        case .template(let template): "\"\(template.text)\""
        case .json(let json): JSONWriter.string(json)
        }
    }
}

extension Template {
    /// The template as written, placeholders in braces.
    var text: String {
        parts.reduce(into: "") { text, part in
            switch part {
            case .literal(let s): text += s
            case .subject(let subject): text += "{\(subject)}"
            }
        }
    }
}
