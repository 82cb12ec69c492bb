import BrokerCore
import Foundation

/// Checks the syntax trees of all files of a rule set together and compiles them.
struct RuleSetCompiler {
    var sink = DiagnosticSink()
    private var routes: [CompiledRoute?] = []
    private var syntaxByIndex: [RouteSyntax] = []
    private var namedIndex: [String: Int] = [:]
    private var indexedMetrics: Set<String> = []

    mutating func compile(_ files: [RuleFileSyntax], hash: String) -> RuleSet? {
        let defaults = mergeDefaults(files)
        // Give every route (named and inline) a slot, so `otherwise` can point at it.
        var topLevel: [Int] = []
        var firstDefinition: [String: SourceLocation] = [:]
        for file in files {
            for route in file.routes {
                guard let name = route.name else { continue }
                if let first = firstDefinition[name.value] {
                    sink.error(name.location, "duplicate route name '\(name.value)' (first defined at \(first))")
                    continue
                }
                firstDefinition[name.value] = name.location
                topLevel.append(reserve(route, name: name.value))
            }
        }
        for index in topLevel { reserveInline(syntaxByIndex[index], parentName: syntaxByIndex[index].name!.value) }
        checkCycles()
        checkShadowing(topLevel.map { syntaxByIndex[$0] })
        for index in syntaxByIndex.indices { routes[index] = compileRoute(syntaxByIndex[index], index: index) }
        let noRouteSyntax = RuleParser.terminalRoute(
            defaults.onNoRoute?.value
                ?? .deadLetter(
                    TemplateSyntax(
                        parts: [.literal("no route matched")], text: "no route matched", location: defaults.location)),
            at: defaults.onNoRoute?.location ?? defaults.location)
        let noRoute = compileRoute(noRouteSyntax, index: -1, name: "on_no_route")
        let output = defaults.output.flatMap { constantDestination($0) } ?? .queue("server_input_queue")
        guard !sink.hasErrors, let noRoute else { return nil }
        let compiled = routes.map { $0! }
        var constraints: [Int32: RouteIndex.Constraints] = [:]
        for index in topLevel { constraints[Int32(index)] = RouteIndex.constraints(of: compiled[index].when) }
        let routeIndex = RouteIndex.build(routes: topLevel.map(Int32.init), constraints: constraints)
        return RuleSet(
            hash: hash, files: files.map(\.file), routes: compiled, topLevel: topLevel, index: routeIndex,
            onNoRoute: noRoute, defaultOutput: output,
            deadLetterQueue: defaults.deadLetter?.value ?? "broker_dead_letter",
            indexedMetricKeys: indexedMetrics)
    }

    // MARK: - Defaults

    private struct MergedDefaults {
        var output: Located<DestinationSyntax>?
        var onNoRoute: Located<TerminalSyntax>?
        var deadLetter: Located<String>?
        var location: SourceLocation
    }

    private mutating func mergeDefaults(_ files: [RuleFileSyntax]) -> MergedDefaults {
        var merged = MergedDefaults(location: SourceLocation(file: files.first?.file ?? "rules", line: 1, column: 1))
        func take<T>(_ value: Located<T>?, into slot: inout Located<T>?, key: String, sink: inout DiagnosticSink) {
            guard let value else { return }
            if let existing = slot {
                sink.error(value.location, "'defaults.\(key)' is already set at \(existing.location)")
            } else {
                slot = value
            }
        }
        for file in files {
            take(file.defaults.output, into: &merged.output, key: "output", sink: &sink)
            take(file.defaults.onNoRoute, into: &merged.onNoRoute, key: "on_no_route", sink: &sink)
            take(file.defaults.deadLetter, into: &merged.deadLetter, key: "dead_letter", sink: &sink)
        }
        if let output = merged.output, constantDestination(output) == nil {
            sink.error(output.location, "'defaults.output' cannot contain placeholders")
        }
        return merged
    }

    private func constantDestination(_ destination: Located<DestinationSyntax>) -> Destination? {
        switch destination.value {
        case .queue(let t): t.isConstant ? .queue(t.text) : nil
        case .exchange(let e, let k): e.isConstant && k.isConstant ? .exchange(e.text, routingKey: k.text) : nil
        }
    }

    // MARK: - Route table

    private mutating func reserve(_ route: RouteSyntax, name: String) -> Int {
        let index = syntaxByIndex.count
        syntaxByIndex.append(route)
        routes.append(nil)
        namedIndex[name] = index
        return index
    }

    private mutating func reserveInline(_ route: RouteSyntax, parentName: String) {
        guard case .inline(var inline) = route.otherwise else { return }
        let name = parentName + "/otherwise"
        inline.name = Located(value: name, location: inline.location)
        _ = reserve(inline, name: name)
        reserveInline(inline, parentName: name)
    }

    private func otherwiseTarget(_ route: RouteSyntax) -> (String, SourceLocation)? {
        switch route.otherwise {
        case .route(let name): (name.value, name.location)
        case .inline(let inline): (route.name!.value + "/otherwise", inline.location)
        case nil: nil
        }
    }

    private mutating func checkCycles() {
        var reported: Set<String> = []
        for route in syntaxByIndex {
            var chain = [route.name!.value]
            var current = route
            while let (target, location) = otherwiseTarget(current), let next = namedIndex[target] {
                if let start = chain.firstIndex(of: target) {
                    let cycle = chain[start...] + [target]
                    if reported.insert(Set(cycle).sorted().joined(separator: ",")).inserted {
                        sink.error(location, "'otherwise' cycle: \(cycle.joined(separator: " -> "))")
                    }
                    break
                }
                chain.append(target)
                current = syntaxByIndex[next]
            }
        }
    }

    private mutating func checkShadowing(_ topLevel: [RouteSyntax]) {
        var seen: [String: RouteSyntax] = [:]
        var catchAll: RouteSyntax?
        for route in topLevel {
            let name = route.name!.value
            if let catchAll {
                sink.warning(
                    route.name!.location,
                    "route '\(name)' can never match: route '\(catchAll.name!.value)' at \(catchAll.location) matches every message first"
                )
                continue
            }
            let key = route.when.map(ConditionText.of) ?? ""
            if let earlier = seen[key] {
                sink.warning(
                    route.name!.location,
                    "route '\(name)' can never match: route '\(earlier.name!.value)' at \(earlier.location) has the same 'when' and comes first"
                )
            } else {
                seen[key] = route
            }
            if route.when == nil { catchAll = route }
        }
    }

    // MARK: - Routes

    private mutating func compileRoute(_ route: RouteSyntax, index: Int, name: String? = nil) -> CompiledRoute? {
        let routeName = name ?? route.name!.value
        let selects = if case .select = route.action { true } else { false }
        let when = route.when.map { compileCondition($0, agentContext: false) } ?? .always
        var otherwise: Int?
        if let (target, location) = otherwiseTarget(route) {
            if let found = namedIndex[target] {
                otherwise = found
            } else {
                sink.error(
                    location,
                    "'otherwise' names unknown route '\(target)'\(Suggestion.didYouMean(target, in: namedIndex.keys.filter { !$0.contains("/") }))"
                )
            }
        }
        var edits = Edits()
        edits.remove = route.remove.map(\.value)
        edits.set = route.set.map { ($0.key.value, assigned($0.value, selects: selects)) }
        edits.setIfAbsent = route.setIfAbsent.map { ($0.key.value, assigned($0.value, selects: selects)) }
        let output = route.output.map { destination($0.value, selects: selects) }
        let action: RouteAction
        switch route.action {
        case .deliver, nil: action = .deliver
        case .select(let select): action = .select(compileSelection(select))
        case .errorToServer(let t): action = .errorToServer(template(t, selects: false))
        case .deadLetter(let t): action = .deadLetter(template(t, selects: false))
        case .drop(let t): action = .drop(template(t, selects: false))
        case .statusUpdate: action = .statusUpdate
        }
        if let kind = route.action, !edits.isEmpty || route.output != nil {
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
        return CompiledRoute(
            name: routeName, location: route.location, when: when, action: action, edits: edits, output: output,
            otherwise: otherwise)
    }

    private mutating func template(_ syntax: TemplateSyntax, selects: Bool) -> Template {
        for part in syntax.parts {
            guard case .subject(let subject) = part else { continue }
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

    private mutating func compileSelection(_ select: SelectSyntax) -> Selection {
        let agents = select.agents.map { compileCondition($0, agentContext: true) } ?? .always
        var conjuncts = agents.conjuncts
        // `online` tested at the top decides the base set; absent means online agents only.
        func check(_ predicate: Predicate) -> Check? {
            if case .test(let check) = predicate { return check }
            return nil
        }
        var onlineOnly = true
        if let position = conjuncts.firstIndex(where: { check($0)?.subject == .agent(.online) }) {
            if case .equals(let matcher)? = check(conjuncts[position])?.test,
                matcher.keys == [.bool(true), .string("true")]
            {
                conjuncts.remove(at: position)
            } else {
                onlineOnly = false
            }
        } else if Self.mentionsOnline(agents) {
            onlineOnly = false
        }
        // One metric equality with a single text value can be answered by the registry's index.
        func indexable(_ predicate: Predicate) -> (String, String)? {
            guard let check = check(predicate), case .agent(.metric(let key)) = check.subject,
                case .equals(let matcher) = check.test
            else { return nil }
            let strings = matcher.keys.compactMap { if case .string(let s) = $0 { s } else { nil } }
            return strings.count == 1 ? (key, strings[0]) : nil
        }
        var indexed: (String, String)?
        var residual = conjuncts
        if onlineOnly, let position = conjuncts.firstIndex(where: { indexable($0) != nil }) {
            indexed = indexable(conjuncts[position])
            indexedMetrics.insert(indexed!.0)
            residual.remove(at: position)
        }
        func predicate(_ items: [Predicate]) -> Predicate {
            items.isEmpty ? .always : items.count == 1 ? items[0] : .all(items)
        }
        let strategy: Strategy
        switch select.strategy.value {
        case .random: strategy = .random
        case .roundRobin: strategy = .roundRobin
        case .first: strategy = .first
        case .least(.agent(let f)): strategy = .least(f)
        case .most(.agent(let f)): strategy = .most(f)
        case .hash(let subject): strategy = .hash(subject)
        case .least, .most: strategy = .random
        }
        return Selection(
            onlineOnly: onlineOnly, indexedMetric: indexed, residual: predicate(residual),
            residualUnindexed: predicate(conjuncts), excludeSender: select.exclude.contains { $0.value == .sender },
            excludeReceiver: select.exclude.contains { $0.value == .receiver }, strategy: strategy,
            count: select.count.value, assignTo: select.assignTo.value,
            description: select.agents.map(ConditionText.of) ?? "online agents")
    }

    private static func mentionsOnline(_ predicate: Predicate) -> Bool {
        switch predicate {
        case .always: false
        case .all(let items), .any(let items): items.contains(where: mentionsOnline)
        case .not(let inner): mentionsOnline(inner)
        case .test(let check): check.subject == .agent(.online)
        }
    }

    // MARK: - Conditions

    private mutating func compileCondition(_ condition: ConditionSyntax, agentContext: Bool) -> Predicate {
        switch condition {
        case .all(let items, _): return .all(items.map { compileCondition($0, agentContext: agentContext) })
        case .any(let items, _): return .any(items.map { compileCondition($0, agentContext: agentContext) })
        case .not(let inner, _): return .not(compileCondition(inner, agentContext: agentContext))
        case .test(let subject, let tests):
            let compiled = tests.compactMap { test -> Predicate? in
                guard let t = compileTest(test, subject: subject.value, agentContext: agentContext) else { return nil }
                return .test(Check(subject.value, t, description: ConditionText.of(subject.value, test)))
            }
            return compiled.count == 1 ? compiled[0] : .all(compiled)
        }
    }

    private mutating func compileTest(_ test: TestSyntax, subject: Subject, agentContext: Bool) -> Test? {
        let type = subject.valueType
        let op = test.op.rawValue
        func scalar() -> YAMLScalar? {
            guard case .scalar(let s, _) = test.value else {
                sink.error(test.value.location, "'\(op)' takes a single value, not a list or mapping")
                return nil
            }
            return s
        }
        func requireKinds(_ allowed: [SubjectType], _ what: String) -> Bool {
            guard allowed.contains(type) else {
                sink.error(test.location, "'\(op)' needs \(what), but \(subject) is \(type.name)")
                return false
            }
            return true
        }
        func keys(_ s: YAMLScalar, at location: SourceLocation) -> Set<ScalarKey>? {
            if type == .bool, case .bool = s.resolved {
            } else if type == .bool {
                sink.error(location, "\(subject) is true or false; '\(s.text)' can never match")
                return nil
            }
            return Set(ScalarKey.keys(of: s))
        }
        switch test.op {
        case .eq, .ne:
            guard let s = scalar(), let k = keys(s, at: test.value.location) else { return nil }
            return test.op == .eq ? .equals(ScalarMatcher(k)) : .notEquals(ScalarMatcher(k))
        case .in, .notIn:
            guard case .list(let items, _) = test.value else {
                sink.error(test.value.location, "'\(op)' takes a list of values, as in [TEXT, REPLY]")
                return nil
            }
            var all: Set<ScalarKey> = []
            for item in items {
                guard case .scalar(let s, let location) = item else {
                    sink.error(item.location, "'\(op)' takes a list of scalar values")
                    continue
                }
                if let k = keys(s, at: location) { all.formUnion(k) }
            }
            return test.op == .in ? .equals(ScalarMatcher(all)) : .notEquals(ScalarMatcher(all))
        case .exists:
            guard let s = scalar() else { return nil }
            guard case .bool(let b) = s.resolved else {
                sink.error(test.value.location, "'exists' takes true or false, found '\(s.text)'")
                return nil
            }
            return .exists(b)
        case .prefix, .suffix, .contains:
            guard let s = scalar() else { return nil }
            if test.op != .contains && !requireKinds([.json, .string, .metric, .timestamp], "text") { return nil }
            if test.op == .contains { return .contains(ScalarKey.keys(of: s).first ?? .string(s.text)) }
            return test.op == .prefix ? .prefix(s.text) : .suffix(s.text)
        case .matches:
            guard let s = scalar(), requireKinds([.json, .string, .metric, .timestamp], "text") else { return nil }
            do {
                return .matches(try LinearRegex(s.text))
            } catch {
                sink.error(test.value.location, "invalid regular expression '\(s.text)': \(error)")
                return nil
            }
        case .lt, .le, .gt, .ge:
            guard let s = scalar() else { return nil }
            guard let bound = s.number else {
                sink.error(test.value.location, "'\(op)' compares numbers; '\(s.text)' is not a number")
                return nil
            }
            guard requireKinds([.json, .metric, .number, .timestamp], "a number") else { return nil }
            let orEqual = test.op == .le || test.op == .ge
            return test.op == .lt || test.op == .le ? .less(bound, orEqual: orEqual) : .greater(bound, orEqual: orEqual)
        case .within:
            guard let s = scalar() else { return nil }
            guard let seconds = Self.duration(s.text) else {
                sink.error(
                    test.value.location, "'within' takes a duration such as 30s, 5m, 2h or 1d; found '\(s.text)'")
                return nil
            }
            guard requireKinds([.json, .timestamp, .string], "a timestamp") else { return nil }
            return .within(seconds)
        case .sameAs:
            guard let s = scalar() else { return nil }
            var parser = RuleParser()
            let other = parser.parseSubject(s.text, at: test.value.location, agentContext: agentContext)
            sink.append(contentsOf: parser.sink.diagnostics)
            return other.map(Test.sameAs)
        }
    }

    /// Seconds in `30s`, `500ms`, `5m`, `2h`, `1d` (a bare number means seconds).
    static func duration(_ text: String) -> TimeInterval? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value >= 0 { return value * scale }
        }
        return Double(text).flatMap { $0 >= 0 ? $0 : nil }
    }
}

extension SubjectType {
    var name: String {
        switch self {
        case .json: "a message field"
        case .bool: "true or false"
        case .string: "a name"
        case .number: "a number"
        case .timestamp: "a timestamp"
        case .metric: "a metric"
        }
    }
}
