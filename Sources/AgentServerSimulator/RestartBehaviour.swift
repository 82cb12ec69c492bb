/// What a simulated server's agents do when it restarts.
public enum RestartBehaviour: Sendable, Hashable, CustomStringConvertible {
    /// As the real agent server: it keeps agents in memory only, so it comes back **empty**
    /// (its first full list and every `GetAgentStatus` answer name no agent). The agents that
    /// were connected reconnect one by one at random moments within `reconnectSpread` of it
    /// listening again, each under a new id; the fraction `neverReturn` (0…1) of them never
    /// comes back (the original agent program has no reconnect logic at all).
    case empty(reconnectSpread: Duration = .seconds(10), neverReturn: Double = 0)
    /// Comes back with every agent at once under new ids: a kinder world than the real one,
    /// kept for tests of other things than a restart.
    case sameAgents

    public var description: String {
        switch self {
        case .sameAgents: "same agents under new ids"
        case .empty(let spread, let never):
            "empty; agents reconnect within \(spread), \(Int((never * 100).rounded())) % never"
        }
    }
}

extension RestartBehaviour {
    /// A behaviour from its command-line or query form: `empty` (with the spread in seconds and
    /// the fraction that never returns) or `same-agents`.
    public init(mode: String, spreadSeconds: Double, neverReturn: Double) throws(InvalidRestartBehaviour) {
        switch mode {
        case "same-agents":
            self = .sameAgents
        case "empty":
            guard spreadSeconds >= 0, spreadSeconds <= 3600 else {
                throw InvalidRestartBehaviour(text: "the reconnect spread must be 0…3600 s")
            }
            guard neverReturn >= 0, neverReturn <= 1 else {
                throw InvalidRestartBehaviour(text: "the fraction that never returns must be 0…1")
            }
            self = .empty(reconnectSpread: .milliseconds(Int(spreadSeconds * 1000)), neverReturn: neverReturn)
        default:
            throw InvalidRestartBehaviour(text: "unknown restart mode '\(mode)': use empty or same-agents")
        }
    }
}

/// A restart behaviour that cannot be: says which setting is off.
public struct InvalidRestartBehaviour: Error, CustomStringConvertible {
    public var text: String
    public var description: String { text }
}
