/// The *shadowing* pass (``RuleSetCompiler/passes``): warns about top-level routes that can never be reached: an earlier
/// route has the same `when`, or takes every message, and no `otherwise` leads to them either
/// (a route reached only as another's fallback is reachable).
enum ShadowingCheck {
    static func run(_ table: RouteTable, sink: inout DiagnosticSink) {
        let fallbacks = Set(table.entries.compactMap(\.otherwise))
        // Routes by the hash of their condition's shape; equal hashes are compared in full.
        var seen: [Int: [Int]] = [:]
        var catchAll: Int?
        func warn(_ slot: Int, _ earlier: Int, _ why: String) {
            let route = table.entries[slot].name
            sink.warning(
                route.location,
                "route '\(route.value)' can never match: route '\(table.entries[earlier].name.value)' at \(table.entries[earlier].syntax.location) \(why)"
            )
        }
        for slot in table.topLevel {
            if let catchAll, !fallbacks.contains(slot) {
                warn(slot, catchAll, "matches every message first")
                continue
            }
            guard let when = table.entries[slot].syntax.when else {
                catchAll = slot
                continue
            }
            let key = ConditionShape.hash(when)
            if let first = seen[key]?.first(where: { ConditionShape.same(table.entries[$0].syntax.when, when) }) {
                if !fallbacks.contains(slot) { warn(slot, first, "has the same 'when' and comes first") }
            } else {
                seen[key, default: []].append(slot)
            }
        }
    }
}

/// A condition compared by what it tests, not where it is written: two routes with the same
/// shape match the same messages.
enum ConditionShape {
    /// A hash of what `condition` tests, ignoring where it is written.
    static func hash(_ condition: ConditionSyntax) -> Int {
        var hasher = Hasher()
        hash(condition, into: &hasher)
        return hasher.finalize()
    }

    /// Whether two conditions test the same things (locations aside).
    static func same(_ a: ConditionSyntax?, _ b: ConditionSyntax) -> Bool {
        guard let a else { return false }
        return same(a, b)
    }

    private static func hash(_ condition: ConditionSyntax, into hasher: inout Hasher) {
        switch condition {
        case .all(let items, _), .any(let items, _):
            hasher.combine(condition.isAll ? 0 : 1)
            hasher.combine(items.count)
            for item in items { hash(item, into: &hasher) }
        case .not(let inner, _):
            hasher.combine(2)
            hash(inner, into: &hasher)
        case .test(let subject, let tests):
            hasher.combine(3)
            hasher.combine(subject.value)
            for test in tests {
                hasher.combine(test.op)
                hash(test.value, into: &hasher)
            }
        }
    }

    private static func hash(_ operand: LiteralSyntax, into hasher: inout Hasher) {
        switch operand {
        case .scalar(let scalar, _): hasher.combine(scalar)
        case .list(let items, _):
            hasher.combine(items.count)
            for item in items { hash(item, into: &hasher) }
        case .subject(let subject, _): hasher.combine(subject)
        case .other(let kind, _): hasher.combine(kind)
        }
    }

    static func same(_ a: ConditionSyntax, _ b: ConditionSyntax) -> Bool {
        switch (a, b) {
        case (.all(let x, _), .all(let y, _)), (.any(let x, _), .any(let y, _)):
            x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.not(let x, _), .not(let y, _)): same(x, y)
        case (.test(let s, let x), .test(let t, let y)):
            s.value == t.value && x.count == y.count
                && zip(x, y).allSatisfy { $0.op == $1.op && same($0.value, $1.value) }
        default: false
        }
    }

    private static func same(_ a: LiteralSyntax, _ b: LiteralSyntax) -> Bool {
        switch (a, b) {
        case (.scalar(let x, _), .scalar(let y, _)): x == y
        case (.list(let x, _), .list(let y, _)): x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.subject(let x, _), .subject(let y, _)): x == y
        case (.other(let x, _), .other(let y, _)): x == y
        default: false
        }
    }
}

extension ConditionSyntax {
    fileprivate var isAll: Bool { if case .all = self { true } else { false } }
}
