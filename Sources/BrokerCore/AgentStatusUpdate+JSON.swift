/// Reading agent status updates from their JSON form (`AGENT_STATUS_UPDATE` messages on the
/// queue, registry snapshot files).
extension AgentStatusUpdate {
    /// A problem with one agent record; the record is skipped and the rest applied.
    public struct RecordProblem: Sendable, Hashable, CustomStringConvertible {
        public var index: Int
        public var message: String
        public var description: String { "agents[\(index)]: \(message)" }
    }

    /// Reads `{"agents": [{agent_id, agent_name, is_online, last_seen, metrics}], "is_full_update": bool}`.
    ///
    /// Records without a string `agent_id` are skipped and reported; `is_full_update` defaults
    /// to `false` (a merge, which can never mark agents offline by omission).
    public static func decode(json object: JSONObject, defaultFull: Bool = false) -> (
        update: AgentStatusUpdate, problems: [RecordProblem]
    ) {
        var records: [AgentStatusRecord] = []
        var problems: [RecordProblem] = []
        let items: [JSONValue]
        switch object["agents"] {
        case .array(let array)?: items = array
        case nil: items = []
        case let other?:
            items = []
            problems.append(RecordProblem(index: -1, message: "'agents' is a \(other.kindName), not a list"))
        }
        for (index, item) in items.enumerated() {
            guard case .object(let record) = item else {
                problems.append(RecordProblem(index: index, message: "is a \(item.kindName), not an object"))
                continue
            }
            guard case .string(let id)? = record["agent_id"], !id.isEmpty else {
                problems.append(RecordProblem(index: index, message: "has no agent_id"))
                continue
            }
            var metrics: [String: String] = [:]
            if case .object(let values)? = record["metrics"] {
                for entry in values { metrics[entry.key] = entry.value.templateText }
            }
            let online: Bool
            switch record["is_online"] {
            case .bool(let b)?: online = b
            case .string(let s)?: online = s == "true"
            default: online = false
            }
            records.append(
                AgentStatusRecord(
                    agentID: id, agentName: record["agent_name"]?.stringValue ?? "", isOnline: online,
                    lastSeen: record["last_seen"]?.templateText ?? "", metrics: metrics))
        }
        let full = object["is_full_update"]?.boolValue ?? defaultFull
        return (AgentStatusUpdate(agents: records, isFullUpdate: full), problems)
    }
}
