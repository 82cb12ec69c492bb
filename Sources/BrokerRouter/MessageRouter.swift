import BrokerCore
import BrokerTransports
import Foundation
import Logging
import RoutingRules
import Synchronization

/// Takes messages from an input, decides with the current rule set on the current registry
/// snapshot, publishes the result, and settles the input only after the output is confirmed.
///
/// At-least-once: a message is acknowledged only when every routed copy (or its dead letter)
/// was confirmed; when the outcome of a publish is unknown it is returned to its queue for
/// redelivery. Nothing is acknowledged and forgotten: undecodable, oversized, unroutable and
/// cycling messages go to the dead-letter queue with the reason in their headers.
public final class MessageRouter: Sendable {
    /// Header names the router reads and writes.
    public enum Header {
        /// How many times the broker had routed a dead-lettered message (routed copies carry
        /// the count in `OutboundMessage.hops`; this header is also read on input).
        public static let hops = "x-broker-hops"
        /// The route that decided (on dead letters).
        public static let route = "x-broker-route"
        /// The rule-set hash that decided (on dead letters).
        public static let ruleSet = "x-broker-rule-set"
        /// Set on routed copies of a message that was redelivered to the broker.
        public static let redelivered = "x-broker-redelivered"
        /// Dead letters: why.
        public static let reason = "x-broker-reason"
        /// Dead letters: a short machine-readable reason.
        public static let reasonCode = "x-broker-reason-code"
        /// Dead letters: the queue the message was taken from.
        public static let originalQueue = "x-original-queue"
        /// Dead letters: how many of the original's headers were left off because the dead
        /// letter could not be published with them.
        public static let droppedHeaders = "x-broker-dropped-headers"
    }

    let rules: RuleSetHolder
    let registry: AgentRegistry
    let output: any OutboundSink
    let configuration: RouterConfiguration
    /// Numbers the decisions; each decision's seed is derived from its number. It starts at a
    /// value from the system's random source, so replicas and a restarted broker do not pick in
    /// lockstep (each decision's seed is recorded, so a recorded decision still replays).
    let sequence = Atomic<UInt64>(UInt64.random(in: .min ... .max))
    /// Counts of what the router did, for metrics, tests and benchmarks.
    public let statistics = RouterStatistics()
    /// What status updates on the input (and the metadata queue) may add to the registry.
    public let dataPathAdmission: DataPathAdmission
    /// Whether dead letters go through (for readiness and metrics).
    public let deadLetters = DeadLetterHealth()
    /// Output queues the rules name that went missing, declared again.
    public let outputQueues: OutputQueueRepair
    let observer: (any RouterObserver)?
    private let gate: RoutingGate
    let cycles: CycleDetector
    private let cycleLog = LogThrottle()
    private let logger = Logger(label: "broker.router")

    /// - Parameter onUnknownAgents: called with agent ids that a status record on the data path
    ///   named and the registry does not know (with feed trust the daemon asks the server).
    public init(
        rules: RuleSetHolder, registry: AgentRegistry, output: any OutboundSink,
        configuration: RouterConfiguration = RouterConfiguration(), observer: (any RouterObserver)? = nil,
        onUnknownAgents: (@Sendable ([String]) -> Void)? = nil
    ) {
        self.rules = rules
        self.registry = registry
        self.output = output
        self.configuration = configuration
        self.observer = observer
        outputQueues = OutputQueueRepair(output: output)
        dataPathAdmission = DataPathAdmission(
            maximumRecordsPerMessage: configuration.maximumDataPathRecordsPerMessage,
            maximumNewAgents: configuration.maximumDataPathAgents, trust: configuration.dataPathTrust,
            onUnknownAgents: onUnknownAgents)
        gate = RoutingGate(
            sync: registry.sync, policy: configuration.stalePolicy, maximumStaleness: configuration.maximumStaleness)
        cycles = CycleDetector(
            maximumRoundTrips: configuration.maximumRoundTrips, window: configuration.roundTripWindow)
    }

    /// When messages may be routed (the daemon pauses the input with it).
    public var routingGate: RoutingGate { gate }

    /// Routes every message of `input`, many at once (the input's prefetch bounds how many),
    /// until its stream ends; returns when all of them are settled.
    ///
    /// Messages are routed in the batches the input delivers them in (``route(batch:)``). To
    /// keep input order (``RouterConfiguration/keepsInputOrder``), each message takes its turn.
    public func run(_ input: some InboundSource) async {
        guard configuration.keepsInputOrder else {
            await withDiscardingTaskGroup { group in
                for await batch in input.batches {
                    group.addTask { await self.route(batch: batch) }
                }
            }
            return
        }
        let order = InputOrder()
        await withDiscardingTaskGroup { group in
            for await message in input.messages {
                let turn = order.nextTurn()
                group.addTask { _ = await self.route(message, turn: turn) }
            }
        }
    }

    /// Routes one message and settles it.
    @discardableResult
    public func route(_ inbound: InboundMessage) async -> RoutingOutcome {
        await route(inbound, turn: nil)
    }

    /// Routes one message in its turn of input order (none: in any order).
    private func route(_ inbound: InboundMessage, turn: Turn?) async -> RoutingOutcome {
        await turn?.begin()
        // Outcomes without a publish (drop, status update, requeue) hand the turn on here.
        defer { turn?.end() }
        statistics.begin()
        return await routeCounted(inbound, turn: turn)
    }

    /// ``route(_:turn:)`` for a message already counted as begun.
    func routeCounted(_ inbound: InboundMessage, turn: Turn?) async -> RoutingOutcome {
        var record = observer.map { _ in RoutingRecord(ruleSet: rules.current) }
        let outcome = await decide(inbound, &record, turn: turn)
        finish(outcome, record, bodySize: inbound.body.count)
        return outcome
    }

    /// Counts an outcome and shows it to the observer.
    func finish(_ outcome: RoutingOutcome, _ record: RoutingRecord?, bodySize: Int) {
        statistics.count(outcome)
        if let observer, var record {
            record.bodySize = bodySize
            record.outcome = outcome
            observer.observe(record)
        }
    }

    private func decide(_ inbound: InboundMessage, _ record: inout RoutingRecord?, turn: Turn?) async
        -> RoutingOutcome
    {
        switch gate.verdict {
        case .route: break
        case .wait:
            // Delivered before the input paused: hold it (unacknowledged) until the registry syncs.
            statistics.beginWaitingForRegistry()
            await gate.waitWhileHeld()
            statistics.endWaitingForRegistry()
            if case .wait(let reason) = gate.verdict {
                inbound.settlement.reject(requeue: true)
                return .requeued(reason: "stopped while waiting for the registry: \(reason)")
            }
        case .deadLetter(let code, let reason):
            let ruleSet = rules.current
            return await deadLetter(
                inbound, code: code, reason: reason, route: nil, queue: ruleSet.deadLetterQueue, ruleSet: ruleSet,
                turn: turn)
        }
        let ruleSet = rules.current
        var decided: Decided
        switch check(inbound, ruleSet: ruleSet) {
        case .failure(let cause):
            return await deadLetter(inbound, cause, ruleSet: ruleSet, turn: turn)
        case .success(let checked):
            decided = evaluate(checked, ruleSet: ruleSet)
        }
        while decided.decision.choseAmongAgents && registry.sync.isWarming {
            // The server's view has not settled (it restarted and its agents are reconnecting):
            // a choice among the agents online now, or "nobody is online", is not final yet.
            statistics.beginWaitingForAgents()
            let verdict = await waitForWarmup()
            statistics.endWaitingForAgents()
            switch verdict {
            case .route: break
            case .wait(let reason):
                inbound.settlement.reject(requeue: true)
                return .requeued(reason: "stopped while waiting for the agent server's agents: \(reason)")
            case .deadLetter(let code, let reason):
                return await deadLetter(
                    inbound, code: code, reason: reason, route: nil, queue: ruleSet.deadLetterQueue, ruleSet: ruleSet,
                    turn: turn)
            }
            decided = evaluate(decided.checked, ruleSet: ruleSet)
        }
        decided.fill(&record, ruleSet: ruleSet)
        return await complete(decided, inbound, ruleSet: ruleSet, turn: turn)
    }

    /// Carries out a decision and settles the input.
    func complete(
        _ decided: Decided, _ inbound: InboundMessage, ruleSet: RuleSet, turn: Turn?,
        firstResults: [PublishResult]? = nil
    ) async -> RoutingOutcome {
        let decision = decided.decision
        switch decision.outcome {
        case .deliver, .broadcast:
            // Copies published in a batch were recorded then.
            if firstResults == nil { recordDeliveries(decided) }
            return await publish(
                decision, inbound, hops: decided.checked.hops, ruleSet: ruleSet, turn: turn, firstResults: firstResults)
        case .deadLetter(let reason, let queue):
            let code = decision.route == nil ? "no_route" : "rule"
            return await deadLetter(
                inbound, code: code, reason: reason, route: decision.route, queue: queue, ruleSet: ruleSet, turn: turn)
        case .drop(let reason):
            return drop(inbound, reason: reason)
        case .statusUpdate:
            return applyStatus(of: decided, inbound)
        }
    }

    /// Drops a message the rules drop: acknowledged, nothing published.
    func drop(_ inbound: InboundMessage, reason: String) -> RoutingOutcome {
        inbound.settlement.ack()
        return .dropped(reason: reason)
    }

    /// Applies a status update the data path carried (as far as ``dataPathAdmission`` lets it).
    func applyStatus(of decided: Decided, _ inbound: InboundMessage) -> RoutingOutcome {
        let (updates, problems) = AgentStatusUpdate.decode(json: decided.checked.message.body)
        let (applied, refused) = dataPathAdmission.apply(updates, to: registry)
        inbound.settlement.ack()
        return .statusApplied(agents: applied, problems: problems.count + refused)
    }

    /// Remembers the content of each routed copy, to tell when it comes back unchanged.
    func recordDeliveries(_ decided: Decided) {
        guard cycles.isEnabled else { return }
        for delivery in decided.decision.deliveries {
            cycles.record(delivery.message.body.contentHash, roundTrips: decided.checked.roundTrips + 1)
        }
    }

    /// Returns once the registry's warm-up is over and the gate lets messages through (a
    /// registration lost meanwhile makes the gate wait as at start-up); `.wait` when the task was
    /// cancelled before.
    private func waitForWarmup() async -> RoutingGate.Verdict {
        while !Task.isCancelled {
            let status = registry.sync.status
            if status.warmup != nil {
                await registry.sync.change(after: status.version)
                continue
            }
            let verdict = gate.verdict(status)
            guard case .wait = verdict else { return verdict }
            await gate.waitWhileHeld()
        }
        return gate.verdict(registry.sync.status).waiting(or: "stopped")
    }

    /// One warning per broken cycle, at most one every 10 s (saying how many it stands for).
    /// `messageID` is read only for a line that is written (decoding the body is not free).
    func logCycle(
        _ outcome: RoutingOutcome, messageID: @autoclosure () -> String?, count: (String, Int), reason: String
    ) {
        guard case .deadLettered = outcome else { return }
        let (log, heldBack) = cycleLog.admit()
        guard log else { return }
        var metadata: Logger.Metadata = [
            "message_id": "\(messageID() ?? "-")", count.0: "\(count.1)", "reason": "\(reason)",
        ]
        if heldBack > 0 { metadata["more_cycles_since_last_line"] = "\(heldBack)" }
        logger.warning("routing cycle broken: message dead-lettered as routing_cycle", metadata: metadata)
    }

    /// Publishes the routed copies, retrying what can be retried, and settles the input. With
    /// `firstResults`, the copies were published once already (in a batch) with these outcomes.
    private func publish(
        _ decision: Decision, _ inbound: InboundMessage, hops: Int, ruleSet: RuleSet, turn: Turn?,
        firstResults: [PublishResult]? = nil
    ) async -> RoutingOutcome {
        let copies = Copies(
            deliveries: decision.deliveries, properties: Self.routedProperties(of: inbound), hops: hops + 1,
            byteLimit: MessageCost.copiesLimit(bodySize: inbound.body.count))
        var pending = Array(copies.deliveries.indices)
        var backoff = Backoff(base: .milliseconds(50), cap: .seconds(5))
        var paused = Duration.zero
        var earlier = firstResults
        while true {
            var retry: [Int] = []
            var failure: String?
            let results: [PublishResult]
            if let earlier {
                results = earlier
            } else {
                results = await publish(pending, of: copies, turn: turn)
            }
            earlier = nil
            for (index, result) in results.enumerated() {
                let target = copies.deliveries[pending[index]].destination.target
                switch result {
                case .confirmed: continue
                case .unknown(let reason):
                    // The broker may or may not have the copy: redeliver (a duplicate beats a loss).
                    inbound.settlement.reject(requeue: true)
                    return .requeued(reason: reason)
                case .refused:
                    // Transient (a full queue): wait and publish it again; holding the input
                    // unacknowledged is what slows the broker down.
                    retry.append(pending[index])
                case .returned(let reason):
                    if case .queue(let name) = target, ruleSet.namedQueues.contains(name) {
                        await outputQueues.queueMissing(name)
                    }
                    if paused < configuration.unroutableRetry {
                        retry.append(pending[index])
                    } else {
                        failure = failure ?? "publish to \(target) failed: \(reason)"
                    }
                case .rejected(let reason):
                    failure = failure ?? "publish to \(target) failed: \(reason)"
                }
            }
            if let failure {
                return await deadLetter(
                    inbound, code: "publish_failed", reason: failure, route: decision.route,
                    queue: ruleSet.deadLetterQueue, ruleSet: ruleSet, turn: turn)
            }
            if retry.isEmpty { break }
            statistics.retried(retry.count)
            do {
                let pause = backoff.next()
                try await configuration.pauses.sleep(for: pause)
                paused += pause
            } catch {
                inbound.settlement.reject(requeue: true)
                return .requeued(reason: "stopped while retrying a publish")
            }
            pending = retry
        }
        inbound.settlement.ack()
        return .published(count: copies.deliveries.count, route: decision.route)
    }

    /// The routed copies of one message, encoded only when they are published.
    private struct Copies {
        let deliveries: [Delivery]
        let properties: MessageProperties
        let hops: Int
        /// The most encoded bytes held at once (``MessageCost/copiesLimit(bodySize:)``).
        let byteLimit: Int

        func encoded(_ index: Int) -> OutboundMessage {
            let delivery = deliveries[index]
            return OutboundMessage(
                body: delivery.message.encoded(), target: delivery.destination.target, properties: properties,
                hops: hops)
        }
    }

    /// Publishes the copies at `indices`; the results in the same order. Copies are encoded and
    /// published in batches of at most ``Copies/byteLimit`` bytes (at least one copy each), so a
    /// broadcast to thousands of agents holds a few copies at a time, not thousands. With a
    /// turn, hands it on once the output accepted them all.
    private func publish(_ indices: [Int], of copies: Copies, turn: Turn?) async -> [PublishResult] {
        if indices.count == 1 { return [await publish(copies.encoded(indices[0]), turn: turn)] }
        let accepted = turn?.end(afterAccepting: indices.count)
        var results: [PublishResult] = []
        results.reserveCapacity(indices.count)
        var carried: OutboundMessage?
        var next = 0
        while next < indices.count || carried != nil {
            var batch: [OutboundMessage] = []
            var bytes = 0
            if let first = carried {
                batch.append(first)
                bytes = first.body.count
                carried = nil
            }
            while next < indices.count {
                let message = copies.encoded(indices[next])
                next += 1
                if !batch.isEmpty && bytes + message.body.count > copies.byteLimit {
                    carried = message
                    break
                }
                bytes += message.body.count
                batch.append(message)
            }
            results += await publish(batch, accepted: accepted)
        }
        return results
    }

    /// Publishes `messages` at once; the results in the same order.
    private func publish(_ messages: [OutboundMessage], accepted: (@Sendable () -> Void)?) async -> [PublishResult] {
        guard let accepted else { return await output.publish(messages) }
        return await withTaskGroup(of: (Int, PublishResult).self) { group in
            for (index, message) in messages.enumerated() {
                group.addTask { (index, await self.output.publish(message, accepted: accepted)) }
            }
            var results = [PublishResult](repeating: .unknown(reason: "not published"), count: messages.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
    }

    /// Publishes one message; with a turn, hands it on once the output accepted the message.
    func publish(_ message: OutboundMessage, turn: Turn?) async -> PublishResult {
        guard let turn else { return await output.publish(message) }
        return await output.publish(message, accepted: { turn.end() })
    }

    /// The hop count of an input: the transport's, or the `x-broker-hops` header.
    static func hops(_ inbound: InboundMessage) -> Int {
        guard !inbound.headers.isEmpty else { return inbound.hops }
        return max(inbound.hops, inbound.headers[Header.hops]?.text.flatMap(Int.init) ?? 0)
    }

    /// What routed copies of `inbound` carry: every property and header the producer set,
    /// with their types, except headers in the broker's own `x-broker-` namespace (the stamps
    /// of an earlier trip). The broker adds no header on the common path (a header table costs
    /// RabbitMQ ~30 µs of CPU per message, measured; the hop count travels in `hops`), only
    /// `x-broker-redelivered` on a redelivered input, and says `application/json` when the
    /// producer named no content type.
    static func routedProperties(of inbound: InboundMessage) -> MessageProperties {
        var properties = inbound.properties
        if properties.contentType == nil { properties.contentType = json }
        if properties.headers.entries.contains(where: { $0.name.hasPrefix(brokerPrefix) }) {
            properties.headers.removeAll { $0.name.hasPrefix(brokerPrefix) }
        }
        if inbound.redelivered { properties.headers[Header.redelivered] = "true" }
        return properties
    }

    private static let json = "application/json"
    private static let brokerPrefix = "x-broker-"
}

extension Destination {
    /// The transport address of a rule destination.
    var target: PublishTarget {
        switch self {
        case .queue(let name): .queue(name)
        case .exchange(let name, let key): .topic(name, key: key)
        }
    }
}
