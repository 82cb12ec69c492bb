import BrokerCore
import Foundation
import RoutingRules
import Synchronization

/// `POST /-/try`: what a rule set would do with a message, against the live registry, without
/// publishing, settling or changing anything.
///
/// The request is a JSON object: `message` (the message object), and optionally `rules` (YAML
/// text of a rule set to try instead of the one in force). The answer has the decision, the
/// edited messages and the trace (`explain --format json`'s shape); pasted rules that do not
/// compile answer 422 with every diagnostic and its line and column. Bounded: the request body
/// (``maximumRequestSize``), the work (``timeLimit``, enforced inside the evaluation), what
/// pasted rules may compile to (``pastedLimits``) and the trials running at once
/// (``maximumConcurrent``).
final class MessageTrial: Sendable {
    static let maximumRequestSize = 256 << 10
    static let timeLimit: Duration = .seconds(2)
    static let maximumConcurrent = 2
    /// What the pasted rules are called in their diagnostics.
    static let pastedFileName = "pasted.yaml"

    /// The answer: an HTTP status and a JSON body.
    struct Answer: Sendable {
        var status: Int
        var body: JSONValue

        static func problem(_ status: Int, _ text: String) -> Answer {
            Answer(status: status, body: .object(JSONObject([("error", .string(text))])))
        }
    }

    let running = Atomic<Int>(0)

    /// What pasted rules may compile to: a tenth of a rule file's budget (about 5 MB of regular
    /// expressions).
    static let pastedLimits: RuleFileLimits = {
        var limits = RuleFileLimits()
        limits.maximumPatternSteps = 200_000
        return limits
    }()

    /// How much lower than the routing threads a trial runs (`nice`): a trial takes what the
    /// routing path leaves.
    static let niceness: Int32 = 10

    /// Parses `body`, compiles pasted rules when there are any, and evaluates, within the bounds.
    ///
    /// The work runs on a thread of its own at a lower priority, never on the threads that
    /// route messages, and stops when ``timeLimit`` has passed (the evaluation checks its
    /// deadline as it goes), answering 503.
    func answer(_ body: [UInt8], live: RuleSet, snapshot: AgentRegistry.Snapshot) async -> Answer {
        guard body.count <= Self.maximumRequestSize else {
            return .problem(413, "a trial is at most \(Self.maximumRequestSize >> 10) KiB (message and rules together)")
        }
        guard running.add(1, ordering: .relaxed).newValue <= Self.maximumConcurrent else {
            running.subtract(1, ordering: .relaxed)
            return .problem(429, "\(Self.maximumConcurrent) trials are already running: try again in a moment")
        }
        defer { running.subtract(1, ordering: .relaxed) }
        let deadline = ContinuousClock.now + Self.timeLimit
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.niceness)  // this thread only, on Linux
                let answer = Self.evaluate(body, live: live, snapshot: snapshot, deadline: EvaluationDeadline(deadline))
                continuation.resume(returning: answer)
            }
            thread.name = "broker-trial"
            thread.start()
        }
    }

    static func evaluate(
        _ body: [UInt8], live: RuleSet, snapshot: AgentRegistry.Snapshot,
        deadline: EvaluationDeadline = EvaluationDeadline(after: timeLimit)
    ) -> Answer {
        let tooLong = Answer.problem(
            503, "the trial took longer than \(Self.timeLimit) and was stopped: try a smaller message or rule set")
        guard
            case .object(let request)? = try? JSONParser.parse(
                body, maximumCost: MessageCost.parsedLimit(bodySize: body.count))
        else {
            return .problem(400, #"the request must be a JSON object: {"message": {…}, "rules": "optional YAML"}"#)
        }
        guard case .object(let fields)? = request["message"] else {
            return .problem(400, #""message" must be a JSON object (the message as the agent server sends it)"#)
        }
        let message = Message(fields)
        var ruleSet = live
        var source = "live"
        var warnings: [Diagnostic] = []
        if case .string(let text)? = request["rules"], !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let result = RuleSetLoader(limits: pastedLimits).load([RuleSource(name: pastedFileName, text: text)])
            guard let pasted = result.ruleSet, result.isAcceptable(strict: false) else {
                return Answer(
                    status: 422, body: .object(JSONObject([("diagnostics", diagnostics(result.diagnostics))])))
            }
            ruleSet = pasted
            source = "pasted"
            warnings = result.warnings
        }
        guard !deadline.check() else { return tooLong }
        let answer = answer(message, ruleSet, snapshot, source, warnings: diagnostics(warnings), deadline: deadline)
        return deadline.hasPassed ? tooLong : answer
    }

    private static func answer(
        _ message: Message, _ ruleSet: RuleSet, _ snapshot: AgentRegistry.Snapshot, _ source: String,
        warnings: JSONValue, deadline: EvaluationDeadline
    ) -> Answer {
        var random = FastRandom(seed: UInt64.random(in: 1...UInt64.max))
        let explanation = ruleSet.explain(
            message, in: snapshot, random: &random, maximumCandidates: AdminJSON.traceCandidates,
            deadline: deadline)
        return Answer(
            status: 200,
            body: .object(
                JSONObject([
                    ("rules", .string(source)), ("warnings", warnings),
                    ("explanation", .string(explanation.render())),
                    ("trace", explanation.json(ruleSet: ruleSet, snapshot: snapshot, message: message)),
                ])))
    }

    static func diagnostics(_ diagnostics: [Diagnostic]) -> JSONValue {
        .array(
            diagnostics.map { diagnostic in
                .object(
                    JSONObject([
                        ("severity", .string(diagnostic.severity.rawValue)),
                        ("line", .number(JSONNumber(diagnostic.location.line))),
                        ("column", .number(JSONNumber(diagnostic.location.column))),
                        ("message", .string(diagnostic.message)), ("text", .string(diagnostic.description)),
                    ]))
            })
    }
}
