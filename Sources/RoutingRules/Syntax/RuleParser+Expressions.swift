/// Conditions, subjects and templates: the expression half of the rule parser.
extension RuleParser {
    // MARK: - Conditions

    mutating func parseCondition(_ node: YAMLNode, agentContext: Bool) -> ConditionSyntax? {
        guard let pairs = mapping(node, "a condition") else { return nil }
        var parts: [ConditionSyntax] = []
        for (key, value) in pairs {
            guard let name = key.scalar?.text else {
                sink.error(key.location, "condition keys must be strings, found \(key.kindDescription)")
                continue
            }
            switch name {
            case "all", "any":
                guard case .sequence(let items) = value.kind else {
                    sink.error(value.location, "'\(name)' takes a list of conditions, found \(value.kindDescription)")
                    continue
                }
                let inner = items.compactMap { parseCondition($0, agentContext: agentContext) }
                parts.append(name == "all" ? .all(inner, key.location) : .any(inner, key.location))
            case "not":
                if let inner = parseCondition(value, agentContext: agentContext) {
                    parts.append(.not(inner, key.location))
                }
            default:
                guard let subject = parseSubject(name, at: key.location, agentContext: agentContext) else { continue }
                let located = Located(value: subject, location: key.location)
                parts.append(.test(located, parseTests(value, agentContext: agentContext)))
            }
        }
        if parts.count == 1 { return parts[0] }
        return .all(parts, node.location)
    }

    mutating func parseTests(_ node: YAMLNode, agentContext: Bool) -> [TestSyntax] {
        switch node.kind {
        case .scalar(let scalar):
            return [TestSyntax(op: .eq, value: .scalar(scalar, node.location), location: node.location)]
        case .sequence:
            sink.error(node.location, "a list is not a condition; to match any of several values write { in: [...] }")
            return []
        case .mapping(let pairs):
            var tests: [TestSyntax] = []
            for (key, value) in pairs {
                guard let name = key.scalar?.text, let op = Operator(rawValue: name) else {
                    let name = key.text ?? key.kindDescription
                    sink.error(
                        key.location,
                        "unknown operator '\(name)'\(Suggestion.didYouMean(name, in: Operator.allCases.map(\.rawValue)))"
                    )
                    continue
                }
                if op == .sameAs {
                    guard let other = parseSubjectOperand(value, agentContext: agentContext) else { continue }
                    tests.append(TestSyntax(op: op, value: other, location: key.location))
                } else {
                    tests.append(TestSyntax(op: op, value: literal(value), location: key.location))
                }
            }
            if pairs.isEmpty { sink.error(node.location, "empty operator mapping") }
            return tests
        }
    }

    /// The subject `same_as` compares with, parsed here so that the compiler sees a subject.
    mutating func parseSubjectOperand(_ node: YAMLNode, agentContext: Bool) -> LiteralSyntax? {
        guard let text = node.scalar?.text else {
            sink.error(
                node.location, "'same_as' takes a subject such as message.sender_id, not \(node.kindDescription)")
            return nil
        }
        return parseSubject(text, at: node.location, agentContext: agentContext).map { .subject($0, node.location) }
    }

    func literal(_ node: YAMLNode) -> LiteralSyntax {
        switch node.kind {
        case .scalar(let s): .scalar(s, node.location)
        case .sequence(let items): .list(items.map(literal), node.location)
        case .mapping: .other(node.kindDescription, node.location)
        }
    }

    /// Parses `message.a.b`, `sender.online`, `agent.metrics.load` (or a bare agent field in an
    /// agent context), `registry.online_count`, `route.name`.
    mutating func parseSubject(
        _ text: String, at location: SourceLocation, agentContext: Bool, inTemplate: Bool = false
    ) -> Subject? {
        let parts = Self.components(text)
        let roots =
            agentContext || inTemplate
            ? ["agent", "message", "sender", "receiver", "registry", "route"]
            : ["message", "sender", "receiver", "registry", "route"]
        if agentContext, let field = agentField(parts, at: location, report: false) { return .agent(field) }
        guard let root = parts.first, parts.count >= 2, !parts.contains(where: \.isEmpty) else {
            let fields = agentContext ? AgentField.names + roots.map { "\($0).<field>" } : roots.map { "\($0).<field>" }
            sink.error(
                location,
                "unknown subject '\(text)': expected one of \(fields.joined(separator: ", "))\(Suggestion.didYouMean(text, in: agentContext ? ["online", "agent_id", "agent_name", "last_seen", "known"] : []))"
            )
            return nil
        }
        var rest = consume parts
        rest.removeFirst()  // in place: the array is not shared
        switch root {
        case "message": return .message(rest)
        case "sender", "receiver", "agent":
            if root == "agent" && !agentContext && !inTemplate {
                sink.error(location, "'agent.' fields can only be tested inside 'select: agents:'")
                return nil
            }
            guard let field = agentField(rest, at: location, report: true) else { return nil }
            return root == "sender" ? .sender(field) : root == "receiver" ? .receiver(field) : .agent(field)
        case "registry":
            guard rest.count == 1, let field = RegistryField(rawValue: rest[0]) else {
                let names = RegistryField.allCases.map(\.rawValue)
                sink.error(
                    location,
                    "unknown registry field '\(rest.joined(separator: "."))'; expected one of \(names.joined(separator: ", "))\(Suggestion.didYouMean(rest.joined(separator: "."), in: names))"
                )
                return nil
            }
            return .registry(field)
        case "route":
            guard rest == ["name"] else {
                sink.error(location, "unknown route field '\(rest.joined(separator: "."))'; expected route.name")
                return nil
            }
            return .routeName
        default:
            sink.error(
                location,
                "unknown subject '\(text)': it must start with \(roots.map { "'\($0).'" }.joined(separator: ", "))\(Suggestion.didYouMean(root, in: roots))"
            )
            return nil
        }
    }

    /// `a.b.c` → ["a", "b", "c"] (empty components kept), in one pass.
    static func components(_ text: String) -> [String] {
        var parts: [String] = []
        var start = text.utf8.startIndex
        for index in text.utf8.indices where text.utf8[index] == UInt8(ascii: ".") {
            parts.append(String(text[start..<index]))
            start = text.utf8.index(after: index)
        }
        parts.append(String(text[start...]))
        return parts
    }

    mutating func agentField(_ parts: [String], at location: SourceLocation, report: Bool) -> AgentField? {
        switch parts.first {
        case "known" where parts.count == 1: return .known
        case "online" where parts.count == 1: return .online
        case "agent_id" where parts.count == 1: return .agentID
        case "agent_name" where parts.count == 1: return .agentName
        case "last_seen" where parts.count == 1: return .lastSeen
        case "metrics" where parts.count >= 2: return .metric(parts.dropFirst().joined(separator: "."))
        default:
            if report {
                let name = parts.joined(separator: ".")
                sink.error(
                    location,
                    "unknown agent field '\(name)'; expected one of \(AgentField.names.joined(separator: ", "))\(Suggestion.didYouMean(name, in: ["known", "online", "agent_id", "agent_name", "last_seen", "metrics"]))"
                )
            }
            return nil
        }
    }

    // MARK: - Templates

    func template(_ text: String, at location: SourceLocation) -> TemplateSyntax {
        TemplateSyntax(parts: [.literal(text)], text: text, location: location)
    }

    mutating func parseTemplate(_ node: YAMLNode, what: String) -> TemplateSyntax? {
        guard let text = string(node, what) else { return nil }
        return parseTemplate(text.value, at: node.location)
    }

    mutating func parseTemplate(_ text: String, at location: SourceLocation) -> TemplateSyntax? {
        // Most templates are plain text.
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }) {
            return template(text, at: location)
        }
        var parts: [TemplateSyntax.Part] = []
        var literal = ""
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if c == "{" && i + 1 < scalars.count && scalars[i + 1] == "{" {
                literal.unicodeScalars.append("{")
                i += 2
            } else if c == "}" && i + 1 < scalars.count && scalars[i + 1] == "}" {
                literal.unicodeScalars.append("}")
                i += 2
            } else if c == "{" {
                guard let close = scalars[i...].firstIndex(of: "}") else {
                    sink.error(location, "unclosed '{' in template '\(text)' (write '{{' for a literal brace)")
                    return nil
                }
                var name = ""
                name.unicodeScalars.append(contentsOf: scalars[(i + 1)..<close])
                let trimmed = name.trimmingSpaces
                if let subject = parseSubject(trimmed, at: location, agentContext: false, inTemplate: true) {
                    if !literal.isEmpty { parts.append(.literal(literal)) }
                    literal = ""
                    parts.append(.subject(subject))
                }
                i = close + 1
            } else if c == "}" {
                sink.error(location, "unmatched '}' in template '\(text)' (write '}}' for a literal brace)")
                return nil
            } else {
                literal.unicodeScalars.append(c)
                i += 1
            }
        }
        if !literal.isEmpty || parts.isEmpty { parts.append(.literal(literal)) }
        return TemplateSyntax(parts: parts, text: text, location: location)
    }
}
