import BrokerCore
import Foundation

/// A step-by-step account of one decision: what `broker explain` prints and what the daemon
/// keeps for its recent decisions.
public struct Explanation: Sendable {
    /// One route looked at.
    public struct Step: Sendable, Hashable {
        public enum Result: Sendable, Hashable {
            case notMatched(failedTest: String)
            case taken
            case noAgent
        }

        public var route: String
        public var location: SourceLocation
        public var result: Result
        /// The qualifying agents (the first ``Explanation/maximumCandidates`` of them, in id order).
        public var candidates: [String]?
        /// How many agents qualified (more than ``candidates`` holds when it was cut).
        public var candidateCount: Int?
        public var selection: String?
    }

    /// A top-level route the index let the evaluation skip: it cannot match this message.
    public struct Skipped: Sendable, Hashable {
        public var route: String
        public var location: SourceLocation
        /// The test of its `when` that this message fails.
        public var failedTest: String
    }

    public var steps: [Step]
    public var decision: Decision
    /// The top-level routes the index let the evaluation skip without looking, in rule order.
    public var skipped: [Skipped]
    /// How many top-level routes the index let the evaluation skip.
    public var skippedByIndex: Int { skipped.count }

    /// A readable multi-line report; `all` also lists each route the index skipped, with why.
    public func render(all: Bool = false) -> String {
        var lines: [String] = ["routes tried:"]
        for step in steps {
            switch step.result {
            case .notMatched(let failed):
                lines.append("  ✗ \(step.route) (\(step.location)): \(failed)")
            case .taken, .noAgent:
                lines.append("  ✓ \(step.route) (\(step.location)): matched")
                if let candidates = step.candidates {
                    let count = step.candidateCount ?? candidates.count
                    let shown = candidates.prefix(20).joined(separator: ", ") + (count > 20 ? ", …" : "")
                    lines.append(
                        "      candidates (\(count)) from \(step.selection ?? "agents"): \(shown.isEmpty ? "none" : shown)"
                    )
                }
                if step.result == .noAgent {
                    let why =
                        step.candidates?.isEmpty == false ? "the strategy chose none of them" : "no agent qualifies"
                    lines.append("      \(why): following 'otherwise'")
                }
            }
        }
        if all {
            for route in skipped {
                lines.append("  – \(route.route) (\(route.location)): skipped by the index: \(route.failedTest)")
            }
        } else if !skipped.isEmpty {
            let names = skipped.prefix(5).map(\.route).joined(separator: ", ") + (skipped.count > 5 ? ", …" : "")
            lines.append(
                "  (\(skipped.count) other routes skipped by the index, which cannot match this message: \(names); --all says why)"
            )
        }
        lines.append("decision: " + Self.describe(decision))
        for delivery in decision.deliveries {
            lines.append("output: \(delivery.destination)")
            lines.append(delivery.message.jsonText)
        }
        return lines.joined(separator: "\n")
    }

    static func describe(_ decision: Decision) -> String {
        let route = decision.route.map { "route '\($0)'" } ?? "no route matched"
        switch decision.outcome {
        case .deliver(let d): return "deliver (\(route))" + (d.agentID.map { ", agent \($0)" } ?? "")
        case .broadcast(let ds):
            return "deliver to \(ds.count) agents (\(route)): " + ds.compactMap(\.agentID).joined(separator: ", ")
        case .deadLetter(let reason, let queue): return "dead-letter to \(queue) (\(route)): \(reason)"
        case .drop(let reason): return "drop (\(route)): \(reason)"
        case .statusUpdate: return "apply as an agent status update, publish nothing (\(route))"
        }
    }
}

struct ExplainingObserver: EvaluationObserver {
    static var isTracing: Bool { true }
    /// How many candidates a step keeps by id.
    var maximumCandidates = Int.max
    var steps: [Explanation.Step] = []
    var checked = 0
    var total = 0

    mutating func skipped(_ route: CompiledRoute, because failure: String) {
        closeTakenStep()
        steps.append(.init(route: route.name, location: route.location, result: .notMatched(failedTest: failure)))
    }

    mutating func taken(_ route: CompiledRoute) {
        closeTakenStep()
        steps.append(.init(route: route.name, location: route.location, result: .taken))
    }

    mutating func candidates(_ slots: [Int32], in snapshot: AgentRegistry.Snapshot, _ selection: Selection) {
        guard !steps.isEmpty else { return }
        let agentIDs = slots.prefix(maximumCandidates).map(snapshot.agentID(at:))
        steps[steps.count - 1].candidates = agentIDs
        steps[steps.count - 1].candidateCount = slots.count
        steps[steps.count - 1].selection =
            selection.description + (selection.excludeSender ? ", excluding the sender" : "")
            + (selection.excludeReceiver ? ", excluding the receiver" : "")
        if slots.isEmpty { steps[steps.count - 1].result = .noAgent }
    }

    mutating func chainEnded(_ route: CompiledRoute) { closeTakenStep() }

    /// A route that was taken and is followed by another step did not decide: it followed
    /// `otherwise` (no candidate, or none its strategy could choose).
    private mutating func closeTakenStep() {
        if let last = steps.indices.last, steps[last].result == .taken { steps[last].result = .noAgent }
    }

    mutating func noRouteMatched(checked: Int, of total: Int) {
        self.checked = checked
        self.total = total
    }
}

extension RuleSet {
    /// Evaluates `message` and records every step; each step names at most `maximumCandidates`
    /// of its candidates (and counts them all).
    ///
    /// With a `deadline` (trials of untrusted rules), the work stops soon after it passes; the
    /// explanation is then incomplete and `deadline.hasPassed` says so.
    public func explain(
        _ message: Message, in snapshot: AgentRegistry.Snapshot, random: inout FastRandom, now: Date? = nil,
        maximumCandidates: Int = .max, deadline: EvaluationDeadline? = nil
    ) -> Explanation {
        var observer = ExplainingObserver()
        observer.maximumCandidates = maximumCandidates
        let decision = evaluate(
            message, in: snapshot, random: &random, now: now, observer: &observer, deadline: deadline)
        let considered = Set(index.routes(for: message.body))
        var context = EvaluationContext(message: message.body, snapshot: snapshot, now: now)
        context.deadline = deadline
        let skipped = topLevel.filter { !considered.contains($0) }.map { slot in
            let route = routes[Int(slot)]
            return Explanation.Skipped(
                route: route.name, location: route.location,
                failedTest: context.firstFailure(route.when) ?? "(its condition holds; the index is wrong)")
        }
        return Explanation(steps: observer.steps, decision: decision, skipped: skipped)
    }
}
