import BrokerCore
import Foundation

/// A compiled, immutable rule set: what the router evaluates for every message.
///
/// Build one with ``RuleSetLoader``. Evaluation reads the rule set and one registry snapshot
/// and takes no lock; a reload builds a new `RuleSet` beside this one.
public final class RuleSet: Sendable {
    /// A hash of the source files (names and bytes) that identifies this rule set.
    public let hash: String
    /// The files the rule set was built from, in load order.
    public let files: [String]
    /// The names of the top-level routes, in evaluation order.
    public let routeNames: [String]
    /// Metric keys that selections test for equality; the registry should index them.
    public let indexedMetricKeys: Set<String>
    /// Where messages go unless a route says otherwise.
    public let defaultOutput: Destination
    /// The dead-letter queue.
    public let deadLetterQueue: String

    let routes: [CompiledRoute]
    /// The top-level routes, in evaluation order (what the index narrows down).
    let topLevel: [Int32]
    let index: RouteIndex
    let onNoRoute: CompiledRoute
    /// Whether a rule reads `route.name`: only then does evaluation keep the current route's
    /// name in the context (saving a retain and release per route tried).
    let readsRouteName: Bool

    init(
        hash: String, files: [String], routes: [CompiledRoute], topLevel: [Int], index: RouteIndex,
        onNoRoute: CompiledRoute, defaultOutput: Destination, deadLetterQueue: String, indexedMetricKeys: Set<String>,
        readsRouteName: Bool
    ) {
        self.readsRouteName = readsRouteName
        self.hash = hash
        self.files = files
        self.routes = routes
        self.routeNames = topLevel.map { routes[$0].name }
        self.topLevel = topLevel.map { Int32($0) }
        self.index = index
        self.onNoRoute = onNoRoute
        self.defaultOutput = defaultOutput
        self.deadLetterQueue = deadLetterQueue
        self.indexedMetricKeys = indexedMetricKeys
        var queues: Set<String> = [deadLetterQueue]
        if case .queue(let name) = defaultOutput { queues.insert(name) }
        for route in routes + [onNoRoute] {
            if case .queue(let name)? = route.output, let constant = name.constant { queues.insert(constant) }
        }
        namedQueues = queues
    }

    /// The queues this rule set publishes to by a fixed name (dead-letter queue, default output,
    /// route outputs without placeholders): what should exist before it goes live. Queues
    /// named by a template (`agent_queue_{agent.id}`) are the agent server's to declare. Worked
    /// out once: the router asks on every copy that found no queue.
    public let namedQueues: Set<String>

    /// Decides what to do with `message` given the registry `snapshot`.
    ///
    /// - Parameters:
    ///   - random: the caller's generator for random choices (one per router: no lock).
    ///   - now: the instant `within` tests compare against (default: the clock, read only when a rule needs it).
    public func evaluate(
        _ message: Message, in snapshot: AgentRegistry.Snapshot, random: inout FastRandom, now: Date? = nil
    ) -> Decision {
        var observer = SilentObserver()
        return evaluate(message, in: snapshot, random: &random, now: now, observer: &observer)
    }

    func evaluate<Observer: EvaluationObserver>(
        _ message: Message, in snapshot: AgentRegistry.Snapshot, random: inout FastRandom, now: Date?,
        observer: inout Observer, deadline: EvaluationDeadline? = nil
    ) -> Decision {
        evaluate(
            message, in: snapshot, random: &random, now: now, observer: &observer,
            candidates: index.routes(for: message.body), deadline: deadline)
    }

    /// The decision with every top-level route tried in order, without the index: the reference
    /// the indexed evaluation must agree with (differential tests).
    func evaluateWithoutIndex(
        _ message: Message, in snapshot: AgentRegistry.Snapshot, random: inout FastRandom, now: Date? = nil
    ) -> Decision {
        var observer = SilentObserver()
        return evaluate(message, in: snapshot, random: &random, now: now, observer: &observer, candidates: topLevel)
    }

    private func evaluate<Observer: EvaluationObserver>(
        _ message: Message, in snapshot: AgentRegistry.Snapshot, random: inout FastRandom, now: Date?,
        observer: inout Observer, candidates: [Int32], deadline: EvaluationDeadline? = nil
    ) -> Decision {
        var context = EvaluationContext(message: message.body, snapshot: snapshot, now: now)
        context.deadline = deadline
        for routeIndex in candidates {
            let route = routes[Int(routeIndex)]
            if readsRouteName { context.routeName = route.name }
            if context.holds(route.when) {
                return apply(route, message, &context, random: &random, observer: &observer)
            }
            if Observer.isTracing { observer.skipped(route, because: context.firstFailure(route.when) ?? "") }
        }
        if Observer.isTracing { observer.noRouteMatched(checked: candidates.count, of: routeNames.count) }
        if readsRouteName { context.routeName = onNoRoute.name }
        return apply(onNoRoute, message, &context, random: &random, observer: &observer, reportedRoute: .some(nil))
    }

    private func apply<Observer: EvaluationObserver>(
        _ route: CompiledRoute, _ message: Message, _ context: inout EvaluationContext, random: inout FastRandom,
        observer: inout Observer, reportedRoute: String?? = .none
    ) -> Decision {
        var route = route
        var hops = 0
        while true {
            if readsRouteName { context.routeName = route.name }
            if Observer.isTracing { observer.taken(route) }
            let name = reportedRoute ?? route.name
            if let outcome = perform(route, message, &context, random: &random, observer: &observer) {
                return Decision(route: name, outcome: outcome, choseAmongAgents: context.choseAmongAgents)
            }
            // The route could not deliver: follow `otherwise`, skipping targets whose `when` fails.
            var next = route.otherwise
            while let candidate = next, hops < routes.count {
                hops += 1
                let target = routes[candidate]
                if readsRouteName { context.routeName = target.name }
                if context.holds(target.when) { break }
                if Observer.isTracing { observer.skipped(target, because: context.firstFailure(target.when) ?? "") }
                next = target.otherwise
            }
            guard let found = next, hops < routes.count else {
                if Observer.isTracing { observer.chainEnded(route) }
                return apply(
                    onNoRoute, message, &context, random: &random, observer: &observer, reportedRoute: .some(nil))
            }
            route = routes[found]
        }
    }

    /// Performs a route's action; `nil` when a selection found no agent.
    private func perform<Observer: EvaluationObserver>(
        _ route: CompiledRoute, _ message: Message, _ context: inout EvaluationContext, random: inout FastRandom,
        observer: inout Observer
    ) -> Decision.Outcome? {
        switch route.action {
        case .deliver:
            var body = message.body
            route.edits.apply(to: &body, context)
            let destination = route.output?.render(context) ?? defaultOutput
            return .deliver(Delivery(message: Message(body), destination: destination, agentID: nil))
        case .select(let selection):
            context.choseAmongAgents = true
            let selector = Selector(selection: selection, route: route)
            if Observer.isTracing {
                observer.candidates(selector.qualifying(&context), in: context.snapshot, selection)
            }
            if case .exactly(1) = selection.count {
                guard let slot = selector.pickOne(&context, random: &random) else { return nil }
                return .deliver(delivery(to: slot, route, selection, message, &context))
            }
            let slots = selector.pickMany(&context, random: &random)
            guard !slots.isEmpty else { return nil }
            return .broadcast(slots.map { delivery(to: $0, route, selection, message, &context) })
        case .errorToServer(let text):
            let destination = route.output?.render(context) ?? defaultOutput
            let error = Self.errorMessage(for: message, text: text.render(context))
            return .deliver(Delivery(message: error, destination: destination, agentID: nil))
        case .deadLetter(let reason):
            return .deadLetter(reason: reason.render(context), queue: deadLetterQueue)
        case .drop(let reason):
            return .drop(reason: reason.render(context))
        case .statusUpdate:
            return .statusUpdate
        }
    }

    private func delivery(
        to slot: Int32, _ route: CompiledRoute, _ selection: Selection, _ message: Message,
        _ context: inout EvaluationContext
    ) -> Delivery {
        context.candidate = slot
        defer { context.candidate = nil }
        let agentID = context.snapshot.agentID(at: slot)
        var body = message.body
        route.edits.apply(to: &body, context)
        body[selection.assignTo] = .string(agentID)
        let destination = route.output?.render(context) ?? defaultOutput
        return Delivery(message: Message(body), destination: destination, agentID: agentID)
    }

    /// The ERROR message the original broker sent back to the server, key for key.
    static func errorMessage(for message: Message, text: String) -> Message {
        var error = JSONObject()
        error.reserveCapacity(6)
        error[MessageKey.messageID] = message.body[MessageKey.messageID] ?? .null
        error[MessageKey.messageType] = .string("ERROR")
        error[MessageKey.senderID] = message.body[MessageKey.senderID] ?? .null
        error[MessageKey.receiverID] = .string("Server")
        error[MessageKey.routingStatus] = .string(text)
        error[MessageKey.textPayload] = message.body[MessageKey.textPayload] ?? .null
        return Message(error)
    }
}

/// Receives the steps of an evaluation, for `explain` and the daemon's decision log.
protocol EvaluationObserver {
    static var isTracing: Bool { get }
    mutating func skipped(_ route: CompiledRoute, because failure: String)
    mutating func taken(_ route: CompiledRoute)
    /// The qualifying agents' slots of `snapshot`, in agent-id order.
    mutating func candidates(_ slots: [Int32], in snapshot: AgentRegistry.Snapshot, _ selection: Selection)
    mutating func chainEnded(_ route: CompiledRoute)
    mutating func noRouteMatched(checked: Int, of total: Int)
}

/// The observer of the hot path: it observes nothing and compiles away.
struct SilentObserver: EvaluationObserver {
    static var isTracing: Bool { false }
    func skipped(_ route: CompiledRoute, because failure: String) {}
    func taken(_ route: CompiledRoute) {}
    func candidates(_ slots: [Int32], in snapshot: AgentRegistry.Snapshot, _ selection: Selection) {}
    func chainEnded(_ route: CompiledRoute) {}
    func noRouteMatched(checked: Int, of total: Int) {}
}
