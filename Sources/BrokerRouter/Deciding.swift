import BrokerCore
import BrokerTransports
import RoutingRules

/// The synchronous steps of routing one message: checking it, then deciding it.
extension MessageRouter {
    /// A message that may be decided: it decodes and is not in a cycle.
    struct Checked {
        let message: Message
        let hops: Int
        let roundTrips: Int
    }

    /// Why a message goes to the dead letters before a decision.
    struct Refusal: Error {
        let code: String
        let reason: String
        /// For a broken cycle: the message's id (when it decoded) and the count that tripped.
        var cycle: (messageID: String?, count: (String, Int))?
    }

    /// Decodes `inbound` and checks it against the hop limit and cycle detection.
    func check(_ inbound: InboundMessage, ruleSet: RuleSet) -> Result<Checked, Refusal> {
        let hops = Self.hops(inbound)
        if hops >= configuration.maximumHops {
            let messageID = (try? Message(decoding: inbound.body, maximumSize: configuration.maximumMessageSize))?
                .messageID
            return .failure(
                Refusal(
                    code: "routing_cycle", reason: "routed \(hops) times without leaving the broker: a routing cycle",
                    cycle: (messageID, ("hops", hops))))
        }
        let message: Message
        do {
            message = try Message(decoding: inbound.body, maximumSize: configuration.maximumMessageSize)
        } catch {
            return .failure(Refusal(code: error.reasonCode, reason: error.description))
        }
        var roundTrips = 0
        if cycles.isEnabled {
            roundTrips = cycles.roundTrips(of: message.body.contentHash)
            if roundTrips >= cycles.maximumRoundTrips {
                let reason =
                    "came back to the broker \(roundTrips) times within \(cycles.window.components.seconds) s unchanged: a routing cycle through the agent server"
                return .failure(
                    Refusal(
                        code: "routing_cycle", reason: reason, cycle: (message.messageID, ("round_trips", roundTrips))))
            }
        }
        return .success(Checked(message: message, hops: hops, roundTrips: roundTrips))
    }

    /// Dead-letters a message refused before a decision (logging a broken cycle).
    func deadLetter(_ inbound: InboundMessage, _ refusal: Refusal, ruleSet: RuleSet, turn: Turn?) async
        -> RoutingOutcome
    {
        let outcome = await deadLetter(
            inbound, code: refusal.code, reason: refusal.reason, route: nil, queue: ruleSet.deadLetterQueue,
            ruleSet: ruleSet, turn: turn)
        if let cycle = refusal.cycle {
            logCycle(outcome, messageID: cycle.messageID, count: cycle.count, reason: refusal.reason)
        }
        return outcome
    }

    /// A decision and what it was made on.
    struct Decided {
        let checked: Checked
        let seed: UInt64
        let snapshot: AgentRegistry.Snapshot
        /// How long the evaluation took (measured only for an observer).
        let evaluation: Duration
        let decision: Decision

        func fill(_ record: inout RoutingRecord?, ruleSet: RuleSet) {
            guard record != nil else { return }
            record?.evaluation = evaluation
            record?.message = checked.message
            record?.snapshot = snapshot
            record?.ruleSet = ruleSet
            record?.seed = seed
            record?.decision = decision
        }
    }

    /// One evaluation on the registry as it is now, with a seed of its own.
    func evaluate(_ checked: Checked, ruleSet: RuleSet) -> Decided {
        let seed = StableHash.mix(sequence.add(1, ordering: .relaxed).newValue)
        var random = FastRandom(seed: seed)
        let snapshot = registry.snapshot
        guard observer != nil else {
            let decision = ruleSet.evaluate(checked.message, in: snapshot, random: &random)
            return Decided(checked: checked, seed: seed, snapshot: snapshot, evaluation: .zero, decision: decision)
        }
        let started = ContinuousClock.now
        let decision = ruleSet.evaluate(checked.message, in: snapshot, random: &random)
        return Decided(
            checked: checked, seed: seed, snapshot: snapshot, evaluation: ContinuousClock.now - started,
            decision: decision)
    }
}
