import BrokerCore
import Logging
import Synchronization

/// Admits agent records from the data path into the registry, within bounds: agent status
/// updates on the input queue and `REGISTER_AGENT` on the metadata queue come from anyone who
/// can publish there, unlike the gRPC feed.
///
/// Trust: with ``Trust/feed`` (the default) the agent server's feed decides which agents exist.
/// A data-path record about an agent the feed reported may report it online or change its
/// metrics (not take it offline, nor replace the list: `is_full_update` on the data path
/// merges); a record about an agent the feed does not know is **not** applied: the feed is
/// asked about it (``onUnknownAgents``, `GetAgentStatus`, rate-limited), and only what the feed
/// then confirms enters the registry. One message naming a thousand phantom agents adds none.
/// With ``Trust/full`` the data path may do what the original broker allowed: add agents (at
/// most ``maximumNewAgents`` the feed did not report; agents it added that are gone from the
/// registry again stop counting), take them offline, replace the list.
///
/// Either way a message applies at most ``maximumRecordsPerMessage`` records. What is refused
/// is counted and logged (at most once every 10 s).
public final class DataPathAdmission: Sendable {
    /// Who decides which agents exist, take agents offline and replace the list.
    public enum Trust: String, Sendable, CaseIterable {
        /// Only the feed (gRPC stream or registry file).
        case feed
        /// Anyone who can publish to the input or metadata queue, as in the original broker.
        case full
    }

    public let maximumRecordsPerMessage: Int
    public let maximumNewAgents: Int
    public let trust: Trust
    /// Called (with feed trust) with agent ids a data-path record named that the registry does
    /// not know: the daemon asks the agent server about them.
    private let onUnknownAgents: (@Sendable ([String]) -> Void)?
    private let state = Mutex((added: Set<String>(), refused: 0, unconfirmed: 0))
    private let logThrottle = LogThrottle()
    private let logger = Logger(label: "broker.registry")

    public init(
        maximumRecordsPerMessage: Int = 1_000, maximumNewAgents: Int = 10_000, trust: Trust = .feed,
        onUnknownAgents: (@Sendable ([String]) -> Void)? = nil
    ) {
        self.trust = trust
        self.maximumRecordsPerMessage = max(1, maximumRecordsPerMessage)
        self.maximumNewAgents = max(0, maximumNewAgents)
        self.onUnknownAgents = onUnknownAgents
    }

    /// Records refused so far (over a limit, or not the data path's to apply).
    public var refused: Int { state.withLock { $0.refused } }

    /// Records about agents the feed did not know, left for the feed to confirm, so far.
    public var unconfirmed: Int { state.withLock { $0.unconfirmed } }

    /// Applies the part of `update` that is within bounds to `registry`; returns how many
    /// records were applied and refused. (Admitting and applying happen under one lock, so
    /// concurrent messages cannot both take the last room.)
    @discardableResult
    public func apply(_ update: AgentStatusUpdate, to registry: AgentRegistry) -> (applied: Int, refused: Int) {
        var refused = max(0, update.agents.count - maximumRecordsPerMessage)
        var admitted: [AgentStatusRecord] = []
        var unknown: [String] = []
        admitted.reserveCapacity(min(update.agents.count, maximumRecordsPerMessage))
        state.withLock { s in
            let snapshot = registry.snapshot
            var addedHere: Set<String> = []
            for record in update.agents.prefix(maximumRecordsPerMessage) {
                let known = snapshot.slot(of: record.agentID) != nil
                let addedByDataPath = s.added.contains(record.agentID)
                switch trust {
                case .feed:
                    if !known {
                        unknown.append(record.agentID)  // the feed decides whether it exists
                    } else if !record.isOnline {
                        refused += 1  // the feed says whether its agents are offline
                    } else {
                        admitted.append(record)
                    }
                case .full:
                    if known || addedByDataPath {
                        admitted.append(record)
                        continue
                    }
                    if s.added.count >= maximumNewAgents {
                        // Agents this path added that the registry has since forgotten free
                        // room; those added by this very message are not in the snapshot yet.
                        s.added = s.added.filter { snapshot.slot(of: $0) != nil || addedHere.contains($0) }
                    }
                    if s.added.count < maximumNewAgents {
                        s.added.insert(record.agentID)
                        addedHere.insert(record.agentID)
                        admitted.append(record)
                    } else {
                        refused += 1
                    }
                }
            }
            // A full list from the data path replaces nothing unless the data path is trusted.
            registry.apply(AgentStatusUpdate(agents: admitted, isFullUpdate: update.isFullUpdate && trust == .full))
            s.refused += refused + unknown.count
            s.unconfirmed += unknown.count
        }
        if !unknown.isEmpty { onUnknownAgents?(unknown) }
        if refused + unknown.count > 0 {
            let (log, heldBack) = logThrottle.admit()
            if log {
                logger.warning(
                    "refused agent records from the data path",
                    metadata: [
                        "refused": "\(refused)", "unknown_to_the_feed": "\(unknown.count)",
                        "example_unknown": "\(unknown.first?.debugDescription ?? "-")",
                        "records_per_message_limit": "\(maximumRecordsPerMessage)",
                        "new_agents_limit": "\(maximumNewAgents)", "trust": "\(trust.rawValue)",
                        "messages_since_last_line": "\(heldBack)",
                    ])
            }
        }
        return (admitted.count, refused + unknown.count)
    }
}
