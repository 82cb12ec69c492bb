/// Lowering of `select:`: the base set (online or every known agent), the metric equality the
/// registry's index answers, the tests left for each candidate, and the strategy.
extension RouteLowering {
    mutating func selection(_ select: SelectSyntax) -> Selection {
        let agents = select.agents.map { condition($0, agentContext: true) } ?? .always
        var conjuncts = agents.conjuncts
        // `online` tested at the top decides the base set; absent means online agents only.
        var onlineOnly = true
        if let position = conjuncts.firstIndex(where: { $0.check?.subject == .agent(.online) }) {
            if case .equals(let matcher)? = conjuncts[position].check?.test,
                matcher.keys == [.bool(true), .string("true")]
            {
                conjuncts.remove(at: position)
            } else {
                onlineOnly = false
            }
        } else if Self.mentionsOnline(agents) {
            onlineOnly = false
        }
        var indexed: (key: String, value: String)?
        var residual = conjuncts
        if onlineOnly, let position = conjuncts.firstIndex(where: { Self.indexable($0) != nil }),
            let found = Self.indexable(conjuncts[position])
        {
            indexed = found
            indexMetric(found.key)
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
        case .hash(let subject):
            if subject == .routeName { readsRouteName = true }
            strategy = .hash(subject)
        case .least, .most: strategy = .random
        }
        return Selection(
            onlineOnly: onlineOnly, indexedMetric: indexed, residual: predicate(residual),
            residualUnindexed: predicate(conjuncts), excludeSender: select.exclude.contains { $0.value == .sender },
            excludeReceiver: select.exclude.contains { $0.value == .receiver }, strategy: strategy,
            count: select.count.value, assignTo: select.assignTo.value,
            description: select.agents.map(ConditionText.of) ?? "online agents")
    }

    /// One metric equality with a single text value: the registry's index can answer it.
    private static func indexable(_ predicate: Predicate) -> (key: String, value: String)? {
        guard let check = predicate.check, case .agent(.metric(let key)) = check.subject,
            case .equals(let matcher) = check.test
        else { return nil }
        let strings = matcher.keys.compactMap { if case .string(let s) = $0 { s } else { nil } }
        return strings.count == 1 ? (key, strings[0]) : nil
    }

    private static func mentionsOnline(_ predicate: Predicate) -> Bool {
        switch predicate {
        case .always: false
        case .all(let items), .any(let items): items.contains(where: mentionsOnline)
        case .not(let inner): mentionsOnline(inner)
        case .test(let check), .agentState(_, let check): check.subject == .agent(.online)
        case .field: false
        }
    }
}
