import BrokerCore
import Synchronization

/// A template compiled to literal and subject parts.
struct Template: Sendable {
    enum Part: Sendable {
        case literal(String)
        case subject(Subject)
    }

    let parts: [Part]
    /// The text, when the template has no placeholders (rendering then allocates nothing).
    let constant: String?

    init(_ syntax: TemplateSyntax) {
        parts = syntax.parts.map {
            switch $0 {
            case .literal(let s): .literal(s)
            case .subject(let s): .subject(s)
            }
        }
        constant = syntax.isConstant ? syntax.parts.reduce(into: "") { if case .literal(let s) = $1 { $0 += s } } : nil
    }

    func render(_ context: EvaluationContext) -> String {
        if let constant { return constant }
        var text = ""
        for part in parts {
            switch part {
            case .literal(let s): text += s
            case .subject(let subject): text += context.value(of: subject)?.templateText ?? ""
            }
        }
        return text
    }
}

/// A compiled destination.
enum DestinationTemplate: Sendable {
    case queue(Template)
    case exchange(Template, routingKey: Template)

    func render(_ context: EvaluationContext) -> Destination {
        switch self {
        case .queue(let name): .queue(name.render(context))
        case .exchange(let name, let key): .exchange(name.render(context), routingKey: key.render(context))
        }
    }
}

/// A value assigned by `set`/`set_if_absent`.
enum AssignedValue: Sendable {
    case template(Template)
    case json(JSONValue)

    func render(_ context: EvaluationContext) -> JSONValue {
        switch self {
        case .template(let t): .string(t.render(context))
        case .json(let v): v
        }
    }
}

/// Field edits, applied in the order remove, set, set_if_absent.
struct Edits: Sendable {
    var remove: [String] = []
    var set: [(String, AssignedValue)] = []
    var setIfAbsent: [(String, AssignedValue)] = []

    var isEmpty: Bool { remove.isEmpty && set.isEmpty && setIfAbsent.isEmpty }

    func apply(to object: inout JSONObject, _ context: EvaluationContext) {
        for key in remove { object.removeValue(forKey: key) }
        for (key, value) in set { object[key] = value.render(context) }
        for (key, value) in setIfAbsent where object[key] == nil { object[key] = value.render(context) }
    }
}

/// How a selection orders or picks its candidates.
enum Strategy: Sendable {
    case random
    case roundRobin
    case first
    case least(AgentField)
    case most(AgentField)
    case hash(Subject)
}

/// A compiled `select` (a class: the hot path passes a reference instead of copying it).
final class Selection: Sendable {
    /// Start from the online agents (otherwise from every known agent).
    let onlineOnly: Bool
    /// An equality on a metric that the registry's index can answer.
    let indexedMetric: (key: String, value: String)?
    /// Tests left for each candidate when the index answers `indexedMetric`.
    let residual: Predicate
    /// Tests for each candidate when the snapshot has no index for the metric.
    let residualUnindexed: Predicate
    let excludeSender: Bool
    let excludeReceiver: Bool
    let strategy: Strategy
    let count: SelectionCount
    let assignTo: String
    let description: String

    init(
        onlineOnly: Bool, indexedMetric: (key: String, value: String)?, residual: Predicate,
        residualUnindexed: Predicate, excludeSender: Bool, excludeReceiver: Bool, strategy: Strategy,
        count: SelectionCount, assignTo: String, description: String
    ) {
        self.onlineOnly = onlineOnly
        self.indexedMetric = indexedMetric
        self.residual = residual
        self.residualUnindexed = residualUnindexed
        self.excludeSender = excludeSender
        self.excludeReceiver = excludeReceiver
        self.strategy = strategy
        self.count = count
        self.assignTo = assignTo
        self.description = description
    }

    /// The same selection with another strategy.
    func withStrategy(_ strategy: Strategy) -> Selection {
        Selection(
            onlineOnly: onlineOnly, indexedMetric: indexedMetric, residual: residual,
            residualUnindexed: residualUnindexed, excludeSender: excludeSender, excludeReceiver: excludeReceiver,
            strategy: strategy, count: count, assignTo: assignTo, description: description)
    }
}

/// What a route does.
enum RouteAction: Sendable {
    case deliver
    case select(Selection)
    case errorToServer(Template)
    case deadLetter(Template)
    case drop(Template)
    case statusUpdate
}

/// A route ready to evaluate.
final class CompiledRoute: Sendable {
    let name: String
    let location: SourceLocation
    let when: Predicate
    let action: RouteAction
    let edits: Edits
    let output: DestinationTemplate?
    /// Index of the `otherwise` route in the rule set's route table.
    let otherwise: Int?
    let roundRobin = Atomic<UInt64>(0)

    init(
        name: String, location: SourceLocation, when: Predicate, action: RouteAction, edits: Edits,
        output: DestinationTemplate?, otherwise: Int?
    ) {
        self.name = name
        self.location = location
        self.when = when
        self.action = action
        self.edits = edits
        self.output = output
        self.otherwise = otherwise
    }
}
