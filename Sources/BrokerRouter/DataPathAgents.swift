import BrokerCore
import Logging
import Synchronization

/// Bounds what the data path may do to the registry: agent status updates on the input queue
/// and `REGISTER_AGENT` on the metadata queue come from anyone who can publish there, unlike
/// the gRPC feed.
///
/// A message applies at most ``maximumRecordsPerMessage`` records, and the data path adds at
/// most ``maximumNewAgents`` agents the registry did not know (agents it added that are gone
/// from the registry again stop counting). Records for agents the registry knows always apply.
/// What is refused is counted and logged (at most once every 10 s).
///
/// Trust: with ``Trust/feed`` (the default) the agent server's feed is the authority on the
/// agents it reported: the data path may add agents and update those it added, and report
/// feed-known agents online or change their metrics, but not take a feed-known agent offline
/// nor replace the list (`is_full_update` on the data path merges). With ``Trust/full`` the
/// data path may do what the original broker allowed.
public final class DataPathAgents: Sendable {
    /// Who may take agents offline and replace the list.
    public enum Trust: String, Sendable, CaseIterable {
        /// Only the feed (gRPC stream or registry file).
        case feed
        /// Anyone who can publish to the input or metadata queue, as in the original broker.
        case full
    }

    public let maximumRecordsPerMessage: Int
    public let maximumNewAgents: Int
    public let trust: Trust
    private let state = Mutex((added: Set<String>(), refused: 0, lastLogged: ContinuousClock.Instant?.none))
    private let logger = Logger(label: "broker.registry")

    public init(maximumRecordsPerMessage: Int = 1_000, maximumNewAgents: Int = 10_000, trust: Trust = .feed) {
        self.trust = trust
        self.maximumRecordsPerMessage = max(1, maximumRecordsPerMessage)
        self.maximumNewAgents = max(0, maximumNewAgents)
    }

    /// Records refused so far.
    public var refused: Int { state.withLock { $0.refused } }

    /// Applies the part of `update` that is within bounds to `registry`; returns how many
    /// records were refused. (Admitting and applying happen under one lock, so concurrent
    /// messages cannot both take the last room.)
    @discardableResult
    public func apply(_ update: AgentStatusUpdate, to registry: AgentRegistry) -> (applied: Int, refused: Int) {
        var refused = max(0, update.agents.count - maximumRecordsPerMessage)
        var admitted: [AgentStatusRecord] = []
        admitted.reserveCapacity(min(update.agents.count, maximumRecordsPerMessage))
        let log = state.withLock { s -> Bool in
            let snapshot = registry.snapshot
            for record in update.agents.prefix(maximumRecordsPerMessage) {
                let known = snapshot.slot(of: record.agentID) != nil
                let addedHere = s.added.contains(record.agentID)
                if known && !addedHere && trust == .feed && !record.isOnline {
                    refused += 1  // the feed says whether its agents are offline
                    continue
                }
                if known || addedHere {
                    admitted.append(record)
                    continue
                }
                if s.added.count >= maximumNewAgents {
                    // Agents this path added that the registry has since forgotten free room.
                    s.added = s.added.filter { snapshot.slot(of: $0) != nil }
                }
                if s.added.count < maximumNewAgents {
                    s.added.insert(record.agentID)
                    admitted.append(record)
                } else {
                    refused += 1
                }
            }
            // A full list from the data path replaces nothing unless the data path is trusted.
            registry.apply(AgentStatusUpdate(agents: admitted, isFullUpdate: update.isFullUpdate && trust == .full))
            s.refused += refused
            guard refused > 0 else { return false }
            let now = ContinuousClock.now
            if let last = s.lastLogged, now - last < .seconds(10) { return false }
            s.lastLogged = now
            return true
        }
        if log {
            logger.warning(
                "refused agent records from the data path",
                metadata: [
                    "refused": "\(refused)", "records_per_message_limit": "\(maximumRecordsPerMessage)",
                    "new_agents_limit": "\(maximumNewAgents)",
                ])
        }
        return (admitted.count, refused)
    }
}
