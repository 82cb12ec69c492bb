import BrokerCore

/// Picks agents for a selection from the snapshot's candidate sets.
///
/// The common case (random or round robin over an indexed set, no per-agent tests) is O(log n):
/// excluded agents are located by binary search and skipped arithmetically. Other cases make
/// one pass over the candidate set and allocate nothing unless several agents are wanted.
struct Selector {
    let selection: Selection
    let route: CompiledRoute

    /// The candidate set to start from and the tests each member must still pass.
    func base(_ snapshot: AgentRegistry.Snapshot) -> (CandidateSet, Predicate) {
        if let metric = selection.indexedMetric,
            let indexed = snapshot.onlineAgents(metric: metric.key, equals: metric.value)
        {
            return (indexed, selection.residual)
        }
        return (selection.onlineOnly ? snapshot.online : snapshot.all, selection.residualUnindexed)
    }

    /// The slots of the agents the selection excludes, looked up once per decision.
    struct Excluded {
        var first: Int32?
        var second: Int32?
    }

    private func excluded(_ context: EvaluationContext) -> Excluded {
        Excluded(
            first: selection.excludeSender ? context.senderSlot : nil,
            second: selection.excludeReceiver ? context.receiverSlot : nil)
    }

    /// Whether `slot` may be chosen.
    func qualifies(
        _ slot: Int32, _ residual: Predicate, _ excluded: Excluded, _ context: inout EvaluationContext
    ) -> Bool {
        if slot == excluded.first || slot == excluded.second { return false }
        if case .always = residual { return true }
        context.candidate = slot
        defer { context.candidate = nil }
        return context.holds(residual)
    }

    /// Picks one agent, or `nil` when none qualifies.
    func pickOne(_ context: inout EvaluationContext, random: inout FastRandom) -> Int32? {
        let (set, residual) = base(context.snapshot)
        if set.isEmpty { return nil }
        if case .always = residual, selection.strategy.picksByPosition {
            switch selection.strategy {
            case .random: return pickByIndex(set, context) { random.below($0) }
            case .roundRobin:
                let turn = route.roundRobin.add(1, ordering: .relaxed).oldValue
                return pickByIndex(set, context) { Int(turn % UInt64($0)) }
            default: break
            }
        }
        let excluded = excluded(context)
        switch selection.strategy {
        case .random:
            var chosen: Int32?
            var seen = 0
            for slot in set where qualifies(slot, residual, excluded, &context) {
                seen += 1
                if random.below(seen) == 0 { chosen = slot }
            }
            return chosen
        case .roundRobin:
            let turn = Int(route.roundRobin.add(1, ordering: .relaxed).oldValue % UInt64(set.count))
            for offset in 0..<set.count {
                let slot = set[(turn + offset) % set.count]
                if qualifies(slot, residual, excluded, &context) { return slot }
            }
            return nil
        case .first:
            for slot in set where qualifies(slot, residual, excluded, &context) { return slot }
            return nil
        case .least(let field), .most(let field):
            let wantLeast = if case .least = selection.strategy { true } else { false }
            var best: (Int32, Double)?
            for slot in set where qualifies(slot, residual, excluded, &context) {
                guard let value = number(field, slot, context.snapshot) else { continue }
                if let current = best, wantLeast ? value >= current.1 : value <= current.1 { continue }
                best = (slot, value)
            }
            return best?.0
        case .hash(let subject):
            guard let key = context.value(of: subject)?.templateText else {
                // No key to hash: any qualifying agent will do.
                return Selector(selection: selection.withStrategy(.random), route: route)
                    .pickOne(&context, random: &random)
            }
            let keyHash = StableHash.hash(key)
            var best: (Int32, UInt64)?
            for slot in set where qualifies(slot, residual, excluded, &context) {
                let score = StableHash.rendezvousScore(key: keyHash, agent: context.snapshot.idHash(at: slot))
                if let current = best, score <= current.1 { continue }
                best = (slot, score)
            }
            return best?.0
        }
    }

    /// Picks the `index(n)`-th member of `set` among those not excluded, where `n` is how many
    /// are not excluded: O(log n), no scan.
    private func pickByIndex(_ set: CandidateSet, _ context: EvaluationContext, _ index: (Int) -> Int) -> Int32? {
        // Excluded agents are found by id straight from the message: no registry lookup.
        let senderID = selection.excludeSender ? context.message[MessageKey.senderID]?.stringValue : nil
        let receiverID = selection.excludeReceiver ? context.message[MessageKey.receiverID]?.stringValue : nil
        var first = -1
        var second = -1
        if let senderID, let p = context.snapshot.position(of: senderID, in: set) { first = p }
        if let receiverID, receiverID != senderID, let p = context.snapshot.position(of: receiverID, in: set) {
            second = p
        }
        if first > second { swap(&first, &second) }
        let available = set.count - (first >= 0 ? 1 : 0) - (second >= 0 ? 1 : 0)
        guard available > 0 else { return nil }
        var position = index(available)
        if first >= 0, position >= first { position += 1 }
        if second >= 0, position >= second { position += 1 }
        return set[position]
    }

    func number(_ field: AgentField, _ slot: Int32, _ snapshot: AgentRegistry.Snapshot) -> Double? {
        switch field {
        case .metric(let key): snapshot.metric(key, at: slot)?.number
        case .lastSeen: snapshot.agent(at: slot).lastSeen?.timeIntervalSince1970
        default: nil
        }
    }

    /// Every qualifying agent, in agent-id order.
    func qualifying(_ context: inout EvaluationContext) -> [Int32] {
        let (set, residual) = base(context.snapshot)
        let excluded = excluded(context)
        return set.filter { qualifies($0, residual, excluded, &context) }
    }

    /// Picks several agents (`count: N` or `count: all`).
    func pickMany(_ context: inout EvaluationContext, random: inout FastRandom) -> [Int32] {
        var candidates = qualifying(&context)
        guard case .exactly(let wanted) = selection.count else { return candidates }
        if candidates.count <= wanted && !selection.strategy.orders { return candidates }
        switch selection.strategy {
        case .random:
            for i in 0..<min(wanted, candidates.count) {
                candidates.swapAt(i, i + random.below(candidates.count - i))
            }
        case .roundRobin:
            let turn = Int(
                route.roundRobin.add(UInt64(wanted), ordering: .relaxed).oldValue % UInt64(max(candidates.count, 1)))
            candidates = Array(candidates[turn...] + candidates[..<turn])
        case .first: break
        case .least(let field), .most(let field):
            let snapshot = context.snapshot
            let keyed = candidates.compactMap { slot in number(field, slot, snapshot).map { (slot, $0) } }
            let ascending = if case .least = selection.strategy { true } else { false }
            candidates = keyed.enumerated().sorted { l, r in
                l.element.1 != r.element.1
                    ? (ascending ? l.element.1 < r.element.1 : l.element.1 > r.element.1) : l.offset < r.offset
            }.map(\.element.0)
        case .hash(let subject):
            let keyHash = StableHash.hash(context.value(of: subject)?.templateText ?? "")
            let snapshot = context.snapshot
            candidates.sort {
                StableHash.rendezvousScore(key: keyHash, agent: snapshot.idHash(at: $0))
                    > StableHash.rendezvousScore(key: keyHash, agent: snapshot.idHash(at: $1))
            }
        }
        return Array(candidates.prefix(wanted))
    }
}

extension Strategy {
    /// Whether the strategy picks by position in the candidate set (random, round robin).
    var picksByPosition: Bool {
        switch self {
        case .random, .roundRobin: true
        default: false
        }
    }

    /// Whether the strategy imposes an order (so even a short candidate list is sorted).
    var orders: Bool {
        switch self {
        case .least, .most, .hash: true
        default: false
        }
    }
}
