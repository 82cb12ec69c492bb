/// The shape of a registry file (`{agents: [...]}` or a bare list of agents), checked with
/// positions before it is read as data: unknown keys (with did-you-mean), values of the wrong
/// type (`is_online: yes` is a string in YAML 1.2, not a boolean), records without an id.
/// Without this, a misspelled `is_onlin: true` would leave the agent silently offline.
enum RegistryFileCheck {
    static let rootKeys = ["agents", "is_full_update"]
    static let agentKeys = ["agent_id", "agent_name", "is_online", "last_seen", "metrics"]

    static func check(_ root: YAMLNode, into sink: inout DiagnosticSink) {
        switch root.kind {
        case .sequence(let agents): checkAgents(agents, into: &sink)
        case .mapping(let pairs):
            for (key, value) in pairs {
                guard let name = key.text, rootKeys.contains(name) else {
                    unknown(key, in: "registry", allowed: rootKeys, into: &sink)
                    continue
                }
                switch name {
                case "agents":
                    guard case .sequence(let agents) = value.kind else {
                        sink.error(value.location, "'agents' is a list of agents, found \(value.kindDescription)")
                        continue
                    }
                    checkAgents(agents, into: &sink)
                default: requireBool(value, name, into: &sink)
                }
            }
        case .scalar:
            sink.error(root.location, "a registry is a mapping with 'agents' or a list of agents")
        }
    }

    private static func checkAgents(_ agents: [YAMLNode], into sink: inout DiagnosticSink) {
        for agent in agents {
            guard case .mapping(let pairs) = agent.kind else {
                sink.error(agent.location, "an agent is a mapping (agent_id, …), found \(agent.kindDescription)")
                continue
            }
            var hasID = false
            for (key, value) in pairs {
                guard let name = key.text, agentKeys.contains(name) else {
                    unknown(key, in: "agent", allowed: agentKeys, into: &sink)
                    continue
                }
                switch name {
                case "agent_id":
                    hasID = true
                    guard value.scalar?.resolved == .string, value.text?.isEmpty == false else {
                        sink.error(
                            value.location, "agent_id must be a non-empty string, found \(value.kindDescription)")
                        continue
                    }
                case "agent_name", "last_seen":
                    if value.scalar == nil || value.scalar?.resolved == .null {
                        sink.error(value.location, "\(name) must be a string, found \(value.kindDescription)")
                    }
                case "is_online": requireBool(value, name, into: &sink)
                default:
                    guard case .mapping(let metrics) = value.kind else {
                        sink.error(
                            value.location, "metrics is a mapping of names to values, found \(value.kindDescription)")
                        continue
                    }
                    for (metric, metricValue) in metrics where metricValue.scalar == nil {
                        sink.error(
                            metricValue.location,
                            "metric '\(metric.text ?? "")' must be a single value, found \(metricValue.kindDescription)"
                        )
                    }
                }
            }
            if !hasID { sink.error(agent.location, "agent has no agent_id") }
        }
    }

    private static func requireBool(_ value: YAMLNode, _ name: String, into sink: inout DiagnosticSink) {
        guard case .bool = value.scalar?.resolved else {
            sink.error(value.location, "\(name) must be true or false, found '\(value.text ?? value.kindDescription)'")
            return
        }
    }

    private static func unknown(_ key: YAMLNode, in context: String, allowed: [String], into sink: inout DiagnosticSink)
    {
        let name = key.text ?? key.kindDescription
        sink.error(key.location, "unknown key '\(name)' in \(context)\(Suggestion.didYouMean(name, in: allowed))")
    }
}
