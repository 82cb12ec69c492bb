import BrokerTransports
import RoutingRules

extension MessageRouter {
    /// Routes messages that arrived together (what one read from the network brought) and
    /// settles each of them exactly once.
    ///
    /// The common case is decided on the spot, one message after the other (a decision is
    /// synchronous CPU work and needs no task of its own): the gate and the rule set are read
    /// once for the batch, the routed copies of all messages with one destination are published
    /// together, with one hand-off to the output and one wake-up when all are confirmed, and
    /// each input is acknowledged once its copy is confirmed. Drops and status updates are
    /// settled at once. Whatever needs more goes its own way, concurrently, exactly as
    /// ``route(_:)`` routes it: a gate that holds or refuses messages, agents still
    /// reconnecting, a broadcast, a dead letter, and a copy whose publish was not confirmed
    /// (retried, requeued or dead-lettered from the outcome it had).
    func route(batch: [InboundMessage]) async {
        guard case .route = routingGate.verdict else {
            await withDiscardingTaskGroup { group in
                for inbound in batch { group.addTask { _ = await self.route(inbound) } }
            }
            return
        }
        let ruleSet = rules.current
        var copies: [OutboundMessage] = []
        var routed: [Routed] = []
        var others: [Other] = []
        for inbound in batch {
            statistics.begin()
            var record = observer.map { _ in RoutingRecord(ruleSet: ruleSet) }
            let decided: Decided
            switch check(inbound, ruleSet: ruleSet) {
            case .failure(let refusal):
                others.append(.refused(inbound, refusal, record))
                continue
            case .success(let checked):
                decided = evaluate(checked, ruleSet: ruleSet)
            }
            if decided.decision.choseAmongAgents && registry.sync.isWarming {
                // The agent server restarted and its agents are reconnecting: wait as route(_:) does.
                others.append(.again(inbound))
                continue
            }
            decided.fill(&record, ruleSet: ruleSet)
            switch decided.decision.outcome {
            case .deliver(let delivery):
                recordDeliveries(decided)
                copies.append(
                    OutboundMessage(
                        body: delivery.message.encoded(), target: delivery.destination.target,
                        properties: Self.routedProperties(of: inbound), hops: decided.checked.hops + 1))
                routed.append(Routed(inbound: inbound, decided: decided, record: record))
            case .drop(let reason):
                finish(drop(inbound, reason: reason), record, bodySize: inbound.body.count)
            case .statusUpdate:
                finish(applyStatus(of: decided, inbound), record, bodySize: inbound.body.count)
            case .broadcast, .deadLetter:
                others.append(.decided(inbound, decided, record))
            }
        }
        await withDiscardingTaskGroup { group in
            for other in others {
                group.addTask { await self.finish(other, ruleSet: ruleSet) }
            }
            guard !copies.isEmpty else { return }
            let results = await output.publish(copies)
            for (message, result) in zip(routed, results) {
                guard case .confirmed = result else {
                    group.addTask {
                        let outcome = await self.complete(
                            message.decided, message.inbound, ruleSet: ruleSet, turn: nil, firstResults: [result])
                        self.finish(outcome, message.record, bodySize: message.inbound.body.count)
                    }
                    continue
                }
                message.inbound.settlement.ack()
                finish(
                    .published(count: 1, route: message.decided.decision.route), message.record,
                    bodySize: message.inbound.body.count)
            }
        }
    }

    /// A message of a batch whose copy went out with the batch.
    private struct Routed: Sendable {
        let inbound: InboundMessage
        let decided: Decided
        let record: RoutingRecord?
    }

    /// A message of a batch that goes its own way.
    private enum Other: Sendable {
        /// Refused before a decision: a dead letter.
        case refused(InboundMessage, Refusal, RoutingRecord?)
        /// Decided: a broadcast or a dead letter.
        case decided(InboundMessage, Decided, RoutingRecord?)
        /// To be routed from the start, waiting for what it needs.
        case again(InboundMessage)
    }

    private func finish(_ other: Other, ruleSet: RuleSet) async {
        switch other {
        case .refused(let inbound, let refusal, let record):
            let outcome = await deadLetter(inbound, refusal, ruleSet: ruleSet, turn: nil)
            finish(outcome, record, bodySize: inbound.body.count)
        case .decided(let inbound, let decided, let record):
            let outcome = await complete(decided, inbound, ruleSet: ruleSet, turn: nil)
            finish(outcome, record, bodySize: inbound.body.count)
        case .again(let inbound):
            _ = await routeCounted(inbound, turn: nil)
        }
    }
}
