/// Reads the YAML tree of one rule file into its syntax tree, reporting every structural
/// problem (unknown keys, wrong types, malformed subjects and templates) and carrying on, so
/// one run shows all of them.
struct RuleParser {
    static let fileKeys = ["version", "defaults", "routes"]
    static let defaultsKeys = ["output", "on_no_route", "dead_letter"]
    static let actionKeys = ["deliver", "select", "error_to_server", "dead_letter", "drop", "status_update"]
    static let routeKeys =
        ["name", "description", "when", "remove", "set", "set_if_absent", "output", "otherwise"] + actionKeys
    static let selectKeys = ["agents", "exclude", "strategy", "count", "assign_to"]
    static let combinators = ["all", "any", "not"]

    var sink = DiagnosticSink()

    mutating func parseFile(_ root: YAMLNode, file: String) -> RuleFileSyntax {
        var result = RuleFileSyntax(file: file, defaults: DefaultsSyntax(), routes: [])
        guard let pairs = mapping(root, "a rule file") else { return result }
        var sawVersion = false
        var sawRoutes = false
        for (key, value) in checkedPairs(pairs, allowed: Self.fileKeys, context: "rule file") {
            switch key {
            case "version":
                sawVersion = true
                if value.scalar?.resolved != .int(1) {
                    sink.error(
                        value.location, "unsupported version '\(value.text ?? value.kindDescription)': expected 1")
                }
            case "defaults": result.defaults = parseDefaults(value)
            case "routes":
                sawRoutes = true
                guard case .sequence(let items) = value.kind else {
                    sink.error(value.location, "'routes' must be a sequence of routes, found \(value.kindDescription)")
                    continue
                }
                result.routes = items.compactMap { parseRoute($0, named: true) }
            default: break
            }
        }
        if !sawVersion { sink.error(root.location, "missing 'version: 1'") }
        if !sawRoutes && result.defaults.output == nil && result.defaults.onNoRoute == nil
            && result.defaults.deadLetter == nil
        {
            sink.error(root.location, "the file defines neither 'routes' nor 'defaults'")
        }
        return result
    }

    // MARK: - Structure helpers

    mutating func mapping(_ node: YAMLNode, _ what: String) -> [(key: YAMLNode, value: YAMLNode)]? {
        guard case .mapping(let pairs) = node.kind else {
            sink.error(node.location, "expected \(what) (a mapping), found \(node.kindDescription)")
            return nil
        }
        return pairs
    }

    /// The pairs whose keys are strings from `allowed`; reports the others.
    mutating func checkedPairs(
        _ pairs: [(key: YAMLNode, value: YAMLNode)], allowed: [String], context: String
    ) -> [(String, YAMLNode)] {
        var result: [(String, YAMLNode)] = []
        for (key, value) in pairs {
            guard let name = key.scalar?.text, key.scalar?.resolved == .string else {
                sink.error(key.location, "keys of a \(context) must be strings, found \(key.kindDescription)")
                continue
            }
            if allowed.contains(name) {
                result.append((name, value))
            } else if name == "<<" {
                sink.error(key.location, "merge keys ('<<') are not supported in rule files")
            } else {
                sink.error(
                    key.location,
                    "unknown key '\(name)' in \(context)\(Suggestion.didYouMean(name, in: allowed))")
            }
        }
        return result
    }

    mutating func string(_ node: YAMLNode, _ what: String) -> Located<String>? {
        guard let scalar = node.scalar, scalar.resolved == .string || scalar.resolved.isNumberLike else {
            sink.error(node.location, "\(what) must be a string, found \(node.kindDescription)")
            return nil
        }
        return Located(value: scalar.text, location: node.location)
    }

    mutating func stringList(_ node: YAMLNode, _ what: String) -> [Located<String>] {
        if node.scalar != nil { return string(node, what).map { [$0] } ?? [] }
        guard case .sequence(let items) = node.kind else {
            sink.error(node.location, "\(what) must be a list of strings, found \(node.kindDescription)")
            return []
        }
        return items.compactMap { string($0, what) }
    }

    // MARK: - Defaults

    mutating func parseDefaults(_ node: YAMLNode) -> DefaultsSyntax {
        var defaults = DefaultsSyntax()
        guard let pairs = mapping(node, "'defaults'") else { return defaults }
        for (key, value) in checkedPairs(pairs, allowed: Self.defaultsKeys, context: "'defaults'") {
            switch key {
            case "output": defaults.output = parseDestination(value)
            case "on_no_route":
                if let terminal = parseTerminal(value, what: "'on_no_route'") {
                    defaults.onNoRoute = Located(value: terminal, location: value.location)
                }
            case "dead_letter": defaults.deadLetter = string(value, "'dead_letter' (a queue name)")
            default: break
            }
        }
        return defaults
    }

    /// `dead_letter`, `drop`, `{dead_letter: reason}`, `{drop: reason}`, `{error_to_server: text}`.
    mutating func parseTerminal(_ node: YAMLNode, what: String) -> TerminalSyntax? {
        let allowed = ["dead_letter", "drop", "error_to_server"]
        if let scalar = node.scalar {
            switch scalar.text {
            case "dead_letter": return .deadLetter(template("no route matched", at: node.location))
            case "drop": return .drop(template("dropped by rule", at: node.location))
            case "error_to_server":
                return .errorToServer(template("No online agents available. Routing failed.", at: node.location))
            default:
                sink.error(
                    node.location,
                    "unknown action '\(scalar.text)' in \(what)\(Suggestion.didYouMean(scalar.text, in: allowed))")
                return nil
            }
        }
        guard let pairs = mapping(node, what) else { return nil }
        let checked = checkedPairs(pairs, allowed: allowed, context: what)
        guard checked.count == 1, let (key, value) = checked.first else {
            if pairs.count != 1 { sink.error(node.location, "\(what) takes exactly one action") }
            return nil
        }
        guard let text = parseTemplate(value, what: "'\(key)'") else { return nil }
        switch key {
        case "dead_letter": return .deadLetter(text)
        case "drop": return .drop(text)
        default: return .errorToServer(text)
        }
    }

    // MARK: - Routes

    mutating func parseRoute(_ node: YAMLNode, named: Bool) -> RouteSyntax? {
        guard let pairs = mapping(node, named ? "a route" : "an inline 'otherwise' route") else { return nil }
        var route = RouteSyntax(location: node.location)
        var actions: [(String, SourceLocation)] = []
        let allowed = named ? Self.routeKeys : Self.routeKeys.filter { $0 != "name" }
        for (key, value) in checkedPairs(pairs, allowed: allowed, context: named ? "route" : "inline route") {
            if Self.actionKeys.contains(key) { actions.append((key, value.location)) }
            switch key {
            case "name":
                if let name = string(value, "'name'") {
                    if name.value.isEmpty || !name.value.unicodeScalars.allSatisfy(Self.isNameCharacter) {
                        sink.error(
                            value.location,
                            "route name '\(name.value)' may contain only ASCII letters, digits, '-', '_' and '.'")
                    }
                    route.name = name
                }
            case "description": _ = string(value, "'description'")
            case "when": route.when = parseCondition(value, agentContext: false)
            case "remove": route.remove = stringList(value, "'remove'")
            case "set": route.set = parseAssignments(value, what: "'set'")
            case "set_if_absent": route.setIfAbsent = parseAssignments(value, what: "'set_if_absent'")
            case "output": route.output = parseDestination(value)
            case "otherwise": route.otherwise = parseOtherwise(value)
            case "deliver":
                if value.text != "as_is" {
                    sink.error(
                        value.location,
                        "'deliver' takes the value 'as_is', found '\(value.text ?? value.kindDescription)'")
                }
                route.action = .deliver(value.location)
            case "select": route.action = parseSelect(value).map(ActionSyntax.select)
            case "error_to_server":
                route.action = parseTemplate(value, what: "'error_to_server'").map(ActionSyntax.errorToServer)
            case "dead_letter": route.action = parseTemplate(value, what: "'dead_letter'").map(ActionSyntax.deadLetter)
            case "drop":
                if value.scalar?.resolved == .bool(true) {
                    route.action = .drop(template("dropped by rule", at: value.location))
                } else {
                    route.action = parseTemplate(value, what: "'drop' (a reason)").map(ActionSyntax.drop)
                }
            case "status_update":
                if value.scalar?.resolved != .bool(true) {
                    sink.error(value.location, "'status_update' takes the value true")
                }
                route.action = .statusUpdate(value.location)
            default: break
            }
        }
        if named && route.name == nil { sink.error(node.location, "route has no 'name'") }
        if actions.count > 1 {
            let names = actions.map { "'\($0.0)'" }.joined(separator: ", ")
            sink.error(actions[1].1, "a route takes exactly one action, found \(names)")
        } else if actions.isEmpty && (named || route.otherwise == nil) {
            sink.error(
                node.location,
                "route has no action: add one of \(Self.actionKeys.map { "'\($0)'" }.joined(separator: ", "))")
        }
        return route
    }

    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".": true
        default: false
        }
    }

    mutating func parseOtherwise(_ node: YAMLNode) -> OtherwiseSyntax? {
        if let scalar = node.scalar {
            switch scalar.text {
            case "dead_letter", "drop", "error_to_server":
                guard let terminal = parseTerminal(node, what: "'otherwise'") else { return nil }
                return .inline(Self.terminalRoute(terminal, at: node.location))
            default:
                return string(node, "'otherwise' (a route name)").map(OtherwiseSyntax.route)
            }
        }
        return parseRoute(node, named: false).map(OtherwiseSyntax.inline)
    }

    static func terminalRoute(_ terminal: TerminalSyntax, at location: SourceLocation) -> RouteSyntax {
        var route = RouteSyntax(location: location)
        switch terminal {
        case .deadLetter(let t): route.action = .deadLetter(t)
        case .drop(let t): route.action = .drop(t)
        case .errorToServer(let t): route.action = .errorToServer(t)
        }
        return route
    }

    mutating func parseAssignments(_ node: YAMLNode, what: String) -> [(key: Located<String>, value: ValueSyntax)] {
        guard let pairs = mapping(node, what) else { return [] }
        var result: [(key: Located<String>, value: ValueSyntax)] = []
        for (key, value) in pairs {
            guard let name = string(key, "a key of \(what)") else { continue }
            guard let scalar = value.scalar else {
                sink.error(value.location, "values of \(what) must be scalars, found \(value.kindDescription)")
                continue
            }
            switch scalar.resolved {
            case .string:
                if let t = parseTemplate(value, what: "a value of \(what)") { result.append((name, .template(t))) }
            case .null: result.append((name, .json(.null, value.location)))
            case .bool(let b): result.append((name, .json(.bool(b), value.location)))
            case .int, .float:
                if let number = scalar.number, number.isFinite {
                    result.append((name, .json(.number(scalar.text), value.location)))
                } else {
                    sink.error(value.location, "'\(scalar.text)' is not a JSON number")
                }
            }
        }
        return result
    }

    mutating func parseDestination(_ node: YAMLNode) -> Located<DestinationSyntax>? {
        if node.scalar != nil {
            guard let t = parseTemplate(node, what: "'output' (a queue name)") else { return nil }
            return Located(value: .queue(t), location: node.location)
        }
        guard let pairs = mapping(node, "'output'") else { return nil }
        var queue: TemplateSyntax?
        var exchange: TemplateSyntax?
        var routingKey: TemplateSyntax?
        for (key, value) in checkedPairs(pairs, allowed: ["queue", "exchange", "routing_key"], context: "'output'") {
            let t = parseTemplate(value, what: "'\(key)'")
            switch key {
            case "queue": queue = t
            case "exchange": exchange = t
            default: routingKey = t
            }
        }
        switch (queue, exchange, routingKey) {
        case (let q?, nil, nil): return Located(value: .queue(q), location: node.location)
        case (nil, let e?, let k):
            return Located(
                value: .exchange(e, routingKey: k ?? template("", at: node.location)), location: node.location)
        default:
            sink.error(node.location, "'output' takes either 'queue', or 'exchange' with an optional 'routing_key'")
            return nil
        }
    }

    // MARK: - Selection

    mutating func parseSelect(_ node: YAMLNode) -> SelectSyntax? {
        guard let pairs = mapping(node, "'select'") else { return nil }
        var select = SelectSyntax(
            location: node.location, strategy: Located(value: .random, location: node.location),
            count: Located(value: .exactly(1), location: node.location),
            assignTo: Located(value: "receiver_id", location: node.location))
        for (key, value) in checkedPairs(pairs, allowed: Self.selectKeys, context: "'select'") {
            switch key {
            case "agents": select.agents = parseCondition(value, agentContext: true)
            case "exclude":
                for item in stringList(value, "'exclude'") {
                    if let excluded = ExcludedAgent(rawValue: item.value) {
                        select.exclude.append(Located(value: excluded, location: item.location))
                    } else {
                        let names = ExcludedAgent.allCases.map(\.rawValue)
                        sink.error(
                            item.location,
                            "unknown exclusion '\(item.value)': expected sender or receiver\(Suggestion.didYouMean(item.value, in: names))"
                        )
                    }
                }
            case "strategy": if let s = parseStrategy(value) { select.strategy = s }
            case "count":
                if value.text == "all" {
                    select.count = Located(value: .all, location: value.location)
                } else if case .int(let n)? = value.scalar?.resolved, n >= 1 {
                    select.count = Located(value: .exactly(n), location: value.location)
                } else {
                    sink.error(value.location, "'count' must be a whole number of at least 1, or 'all'")
                }
            case "assign_to": if let field = string(value, "'assign_to'") { select.assignTo = field }
            default: break
            }
        }
        return select
    }

    mutating func parseStrategy(_ node: YAMLNode) -> Located<StrategySyntax>? {
        let simple = ["random", "round_robin", "first"]
        let keyed = ["least", "most", "hash"]
        if let scalar = node.scalar {
            switch scalar.text {
            case "random": return Located(value: .random, location: node.location)
            case "round_robin": return Located(value: .roundRobin, location: node.location)
            case "first": return Located(value: .first, location: node.location)
            default:
                let hint =
                    keyed.contains(scalar.text)
                    ? "; '\(scalar.text)' needs a field, as in { \(scalar.text): metrics.load }"
                    : Suggestion.didYouMean(scalar.text, in: simple + keyed)
                sink.error(node.location, "unknown strategy '\(scalar.text)'\(hint)")
                return nil
            }
        }
        guard let pairs = mapping(node, "'strategy'") else { return nil }
        let checked = checkedPairs(pairs, allowed: keyed, context: "'strategy'")
        guard checked.count == 1, let (key, value) = checked.first else {
            if pairs.count != 1 { sink.error(node.location, "'strategy' takes exactly one of least, most, hash") }
            return nil
        }
        guard let path = string(value, "the field of '\(key)'") else { return nil }
        guard let subject = parseSubject(path.value, at: path.location, agentContext: key != "hash") else { return nil }
        switch key {
        case "least", "most":
            guard case .agent(let field) = subject, field.valueType == .metric || field.valueType == .timestamp else {
                sink.error(
                    path.location, "'\(key)' orders agents by a numeric agent field such as metrics.load or last_seen")
                return nil
            }
            return Located(value: key == "least" ? .least(subject) : .most(subject), location: node.location)
        default:
            if case .agent = subject {
                sink.error(
                    path.location, "'hash' takes a message field (such as message.conversation_id), not an agent field")
                return nil
            }
            return Located(value: .hash(subject), location: node.location)
        }
    }
}

extension YAMLScalar.Resolved {
    /// Numbers are accepted where a string is expected (queue `123`, metric value `3`).
    var isNumberLike: Bool {
        switch self {
        case .int, .float: true
        default: false
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self).unicodeScalars
        while let f = scalars.first, f == " " { scalars.removeFirst() }
        while let l = scalars.last, l == " " { scalars.removeLast() }
        return String(scalars)
    }
}
