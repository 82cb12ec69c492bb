import BrokerCore
import Foundation

/// One recorded decision, as the daemon writes it (`/decisions?format=jsonl`, `--record FILE`)
/// and `broker diff-rules` reads it: a JSON object per line.
///
/// Version 1:
/// ```
/// {"version": 1, "at": "2026-12-02T05:00:00.123Z", "rule_set": "<hash>", "seed": 42,
///  "message": {…}, "agents": [{"agent_id": …, "agent_name": …, "is_online": …,
///  "last_seen": …, "metrics": {…}}], "decision": {"route": …, "outcome": …, …}}
/// ```
/// `message` is absent when the daemon does not show message contents (`--no-decision-traces`);
/// `agents` are the agents the decision named (sender, receiver, the agents it delivered to);
/// `decision` is `broker explain --format json`'s decision object. New keys may be added; the
/// existing ones keep their meaning. Lines of `shared/data/original-broker-cases.jsonl` (with
/// `input`, the message as text, and `registry_online`, id → online) are read too.
public struct DecisionRecord: Sendable {
    public static let version = 1

    /// The message decided on; `nil` when it was not recorded or was not a JSON object.
    public var message: Message?
    /// The agents recorded with it (a registry of their own for this message).
    public var agents: [Agent]
    /// The seed of the decision's random choices.
    public var seed: UInt64
    /// When it was decided (what `within` tests compare against).
    public var at: Date?

    public init(message: Message?, agents: [Agent], seed: UInt64, at: Date?) {
        self.message = message
        self.agents = agents
        self.seed = seed
        self.at = at
    }

    /// Why a line is not a record.
    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads one line; `fallbackSeed` seeds a line that names no seed (so a file always replays
    /// the same way).
    public init(line: some Collection<UInt8>, fallbackSeed: UInt64) throws(FormatError) {
        guard case .object(let object)? = try? JSONParser.parse(Array(line)) else {
            throw FormatError(description: "not a JSON object")
        }
        // Exactly as written: a 64-bit seed does not survive a trip through a Double.
        if case .number(let number)? = object["seed"], let exact = UInt64(number.literal) {
            seed = exact
        } else {
            seed = fallbackSeed
        }
        at = object["at"]?.stringValue.flatMap { Self.parseDate($0) }
        if case .object(let fields)? = object["message"] {
            message = Message(fields)
        } else if case .string(let text)? = object["input"] {
            guard let fields = (try? JSONParser.parse(text))?.objectValue else {
                throw FormatError(description: "input is not a JSON object")
            }
            message = Message(fields)
        } else if object["message"] == nil && object["input"] == nil {
            throw FormatError(description: "neither \"message\" nor \"input\"")
        } else {
            message = nil
        }
        if case .array(let items)? = object["agents"] {
            agents = items.compactMap { $0.objectValue.flatMap(Self.agent) }
        } else if case .object(let online)? = object["registry_online"] {
            agents = online.map { Agent(id: $0.key, name: $0.key, isOnline: $0.value.boolValue ?? false) }
        } else {
            agents = []
        }
    }

    /// The line the daemon writes for a decision on `message` (no message when `includesMessage`
    /// is false), naming `agents`.
    public static func line(
        message: Message, agents: [Agent], decision: Decision, seed: UInt64, at: Date, ruleSet: String,
        includesMessage: Bool
    ) -> [UInt8] {
        var object = JSONObject([
            ("version", .number(JSONNumber(version))), ("at", .string(formatter.string(from: at))),
            ("rule_set", .string(ruleSet)), ("seed", .number(JSONNumber(literal: String(seed)))),
        ])
        if includesMessage { object["message"] = .object(message.body) }
        object["agents"] = .array(agents.map(json))
        object["decision"] = Explanation.json(decision, includesMessages: includesMessage)
        var bytes = JSONWriter.bytes(.object(object))
        bytes.append(0x0A)
        return bytes
    }

    /// The agents a decision on `message` named, as the record keeps them.
    public static func namedAgents(
        _ message: Message, _ decision: Decision?, in snapshot: AgentRegistry.Snapshot
    ) -> [Agent] {
        var ids = [message.senderID, message.receiverID].compactMap { $0 }
        ids += decision?.deliveries.compactMap(\.agentID) ?? []
        var seen = Set<String>()
        return ids.filter { seen.insert($0).inserted }.compactMap { snapshot.agent(id: $0) }
    }

    static func json(_ agent: Agent) -> JSONValue {
        .object(
            JSONObject([
                ("agent_id", .string(agent.id)), ("agent_name", .string(agent.name)),
                ("is_online", .bool(agent.isOnline)), ("last_seen", .string(agent.lastSeenRaw)),
                ("metrics", .object(JSONObject(agent.metrics.map { ($0.key, JSONValue.string($0.value)) }))),
            ]))
    }

    static func agent(_ object: JSONObject) -> Agent? {
        guard let id = object["agent_id"]?.stringValue else { return nil }
        var metrics: [String: String] = [:]
        for entry in object["metrics"]?.objectValue ?? JSONObject() {
            metrics[entry.key] = entry.value.stringValue ?? entry.value.numericValue.map { "\($0)" }
        }
        let lastSeen = object["last_seen"]?.stringValue ?? ""
        return Agent(
            id: id, name: object["agent_name"]?.stringValue ?? id, isOnline: object["is_online"]?.boolValue ?? false,
            lastSeenRaw: lastSeen, lastSeen: Timestamp.parse(lastSeen, relativeTo: Date()),
            metrics: AgentMetrics(metrics))
    }

    nonisolated(unsafe) private static let formatter: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    static func parseDate(_ text: String) -> Date? {
        formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }
}
