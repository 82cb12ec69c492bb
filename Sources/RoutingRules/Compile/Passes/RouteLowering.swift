import BrokerCore

/// What *lowering* makes of a route table: every route compiled, the `on_no_route` fallback,
/// and what the registry and evaluation must track for them.
struct LoweredRoutes {
    /// In slot order.
    var routes: [CompiledRoute]
    var noRoute: CompiledRoute
    /// Metric keys that selections test by equality: the registry indexes them.
    var indexedMetricKeys: Set<String>
    /// Whether any condition or template reads `route.name`.
    var readsRouteName: Bool
}

/// The *lowering* pass (``RuleSetCompiler/passes``): checks types and turns each route's
/// syntax into what the evaluator runs (predicates, edits, actions, selections, templates).
struct RouteLowering {
    var sink: DiagnosticSink
    /// Whether common tests get dedicated leaves (``Predicate/leaf(_:)``); off only to test
    /// them against the general ones.
    let specialises: Bool
    /// Metric keys that selections test by equality: the registry indexes them.
    private(set) var indexedMetricKeys: Set<String> = []
    /// Whether any condition or template reads `route.name` (evaluation tracks the route's
    /// name only then).
    var readsRouteName = false
    /// The automaton steps of the regular expressions compiled so far, against their budget
    /// (``RuleFileLimits/maximumPatternSteps``).
    var patternSteps = 0
    let maximumPatternSteps: Int

    init(sink: DiagnosticSink, specialises: Bool, maximumPatternSteps: Int) {
        self.sink = sink
        self.specialises = specialises
        self.maximumPatternSteps = maximumPatternSteps
    }

    /// Every route of `table` (in slot order), and the `on_no_route` fallback.
    static func lower(
        _ table: RouteTable, defaults: MergedDefaults, specialises: Bool, maximumPatternSteps: Int,
        sink: inout DiagnosticSink
    ) -> LoweredRoutes {
        var lowering = RouteLowering(sink: sink, specialises: specialises, maximumPatternSteps: maximumPatternSteps)
        let routes = table.entries.map { lowering.route($0.syntax, name: $0.name.value, otherwise: $0.otherwise) }
        let noRoute = lowering.route(defaults.noRouteSyntax, name: "on_no_route", otherwise: nil)
        sink = lowering.sink
        return LoweredRoutes(
            routes: routes, noRoute: noRoute, indexedMetricKeys: lowering.indexedMetricKeys,
            readsRouteName: lowering.readsRouteName)
    }

    mutating func route(_ route: RouteSyntax, name: String, otherwise: Int?) -> CompiledRoute {
        let selects = if case .select = route.action { true } else { false }
        let when = route.when.map { condition($0, agentContext: false) } ?? .always
        var edits = Edits()
        edits.remove = route.remove.map(\.value)
        edits.set = route.set.map { ($0.key.value, assigned($0.value, selects: selects)) }
        edits.setIfAbsent = route.setIfAbsent.map { ($0.key.value, assigned($0.value, selects: selects)) }
        let output = route.output.map { destination($0.value, selects: selects) }
        let action: RouteAction
        switch route.action {
        case .deliver, nil: action = .deliver
        case .select(let select): action = .select(selection(select))
        case .errorToServer(let t): action = .errorToServer(template(t, selects: false))
        case .deadLetter(let t): action = .deadLetter(template(t, selects: false))
        case .drop(let t): action = .drop(template(t, selects: false))
        case .statusUpdate: action = .statusUpdate
        }
        warnAboutIgnoredEdits(route, edits: edits)
        return CompiledRoute(
            name: name, location: route.location, when: when, action: action, edits: edits, output: output,
            otherwise: otherwise)
    }

    private mutating func warnAboutIgnoredEdits(_ route: RouteSyntax, edits: Edits) {
        guard let kind = route.action, !edits.isEmpty || route.output != nil else { return }
        switch kind {
        case .deadLetter, .drop, .statusUpdate:
            sink.warning(
                route.location,
                "'\(kind.keyword)' publishes no edited message: 'set', 'remove' and 'output' have no effect here")
        case .errorToServer:
            if !edits.isEmpty {
                sink.warning(
                    route.location,
                    "'error_to_server' builds a new ERROR message: 'set' and 'remove' have no effect here")
            }
        default: break
        }
    }

    private mutating func template(_ syntax: TemplateSyntax, selects: Bool) -> Template {
        for part in syntax.parts {
            guard case .subject(let subject) = part else { continue }
            if subject == .routeName { readsRouteName = true }
            if case .agent = subject, !selects {
                sink.error(syntax.location, "'{\(subject)}' is only available in routes that select an agent")
            }
        }
        return Template(syntax)
    }

    private mutating func assigned(_ value: ValueSyntax, selects: Bool) -> AssignedValue {
        switch value {
        case .template(let t): return .template(template(t, selects: selects))
        case .json(.null, _): return .json(.null)
        case .json(.bool(let b), _): return .json(.bool(b))
        case .json(.number(let text), _):
            return .json(.number(JSONNumber(literal: Double(text).map { JSONNumber($0).literal } ?? text)))
        }
    }

    private mutating func destination(_ syntax: DestinationSyntax, selects: Bool) -> DestinationTemplate {
        switch syntax {
        case .queue(let t): .queue(template(t, selects: selects))
        case .exchange(let e, let k):
            .exchange(template(e, selects: selects), routingKey: template(k, selects: selects))
        }
    }

    mutating func indexMetric(_ key: String) { indexedMetricKeys.insert(key) }
}
