import Foundation

/// Lowering of conditions: every test checked against its subject's type and compiled to a
/// predicate leaf.
extension RouteLowering {
    mutating func condition(_ condition: ConditionSyntax, agentContext: Bool) -> Predicate {
        switch condition {
        case .all(let items, _): return .all(items.map { self.condition($0, agentContext: agentContext) })
        case .any(let items, _): return .any(items.map { self.condition($0, agentContext: agentContext) })
        case .not(let inner, _): return .not(self.condition(inner, agentContext: agentContext))
        case .test(let subject, let tests):
            if subject.value == .routeName
                || tests.contains(where: { $0.value == .subject(.routeName, $0.value.location) })
            {
                readsRouteName = true
            }
            func leaf(_ test: TestSyntax) -> Predicate? {
                guard let t = self.test(test, subject: subject.value) else { return nil }
                let check = Check(subject.value, t, written: test)
                return specialises ? .leaf(check) : .test(check)
            }
            // One test (the usual case) needs no list.
            if tests.count == 1 { return leaf(tests[0]) ?? .all([]) }
            let compiled = tests.compactMap(leaf)
            return compiled.count == 1 ? compiled[0] : .all(compiled)
        }
    }

    private mutating func test(_ test: TestSyntax, subject: Subject) -> Test? {
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
            if test.op == .contains {
                let key = ScalarKey.keys(of: s).first ?? .string(s.text)
                if case .string(let needle) = key { return .contains(key, TextSearch(needle)) }
                return .contains(key, nil)
            }
            return test.op == .prefix ? .prefix(s.text) : .suffix(s.text)
        case .matches:
            guard let s = scalar(), requireKinds([.json, .string, .metric, .timestamp], "text") else { return nil }
            // Past the rule set's budget nothing more is compiled: the error below was reported once.
            guard patternSteps <= maximumPatternSteps else { return nil }
            do {
                let regex = try LinearRegex(s.text)
                patternSteps += regex.programSize
                guard patternSteps <= maximumPatternSteps else {
                    sink.error(
                        test.value.location,
                        "the regular expressions of this rule set compile to more than \(maximumPatternSteps) "
                            + "automaton steps in all (this one, \(regex.programSize) steps, crosses the limit): "
                            + "simplify the patterns; a bounded repetition such as {1000} counts its body once per repeat"
                    )
                    return nil
                }
                return .matches(regex)
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
            // The parser made the operand a subject (or reported why it could not).
            guard case .subject(let other, _) = test.value else { return nil }
            return .sameAs(other)
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
