import BrokerCore
import Synchronization

/// One page of `/agents`: `?offset=` (default 0) and `?limit=` (default 1,000, at most
/// 10,000), in agent-id order, so a registry of 100,000 agents is read in bounded pieces.
struct AgentPage {
    static let defaultLimit = 1_000
    static let maximumLimit = 10_000

    var offset: Int
    var limit: Int
    /// Where the next page starts; `nil` on the last one.
    var next: Int?
    /// The positions of the page (past the end of the registry it is empty).
    var range: Range<Int>

    init(offset: Int?, limit: Int?, count: Int) {
        self.offset = max(0, offset ?? 0)
        self.limit = min(max(1, limit ?? Self.defaultLimit), Self.maximumLimit)
        let end = self.offset.addingReportingOverflow(self.limit)
        let upper = end.overflow ? Int.max : end.partialValue
        range = self.offset..<upper
        next = upper < count ? upper : nil
    }
}

extension AdminJSON {
    /// One agent as `/agents` shows it, with the messages published to it since start.
    static func describe(_ agent: Agent, decisions: Int) -> JSONValue {
        .object(
            JSONObject([
                ("agent_id", .string(agent.id)), ("agent_name", .string(agent.name)),
                ("is_online", .bool(agent.isOnline)), ("last_seen", .string(agent.lastSeenRaw)),
                ("metrics", .object(JSONObject(agent.metrics.map { ($0.key, JSONValue.string($0.value)) }))),
                ("decisions", .number(JSONNumber(decisions))),
            ]))
    }
}

/// The console's view of `/agents`: `?q=` (a case-insensitive part of the id or name),
/// `?online=true|false`, `?sort=agent_id|agent_name|is_online|last_seen|decisions` and
/// `?order=asc|desc`. Without any of them the page is read straight from the id order.
struct AgentQuery {
    enum Key: String {
        case agentID = "agent_id"
        case agentName = "agent_name"
        case online = "is_online"
        case lastSeen = "last_seen"
        case decisions
    }

    var text: String?
    var online: Bool?
    var sort: Key = .agentID
    var descending = false

    init(text: String?, online: String?, sort: String?, order: String?) {
        self.text = text.flatMap { $0.isEmpty ? nil : $0.lowercased() }
        self.online = online.flatMap { $0 == "true" ? true : $0 == "false" ? false : nil }
        self.sort = sort.flatMap(Key.init(rawValue:)) ?? .agentID
        descending = order == "desc"
    }

    /// Whether the plain id order answers it (no filter, no other order).
    var isIdentity: Bool { text == nil && online == nil && sort == .agentID && !descending }

    /// The agents it selects, in its order.
    func agents(of snapshot: AgentRegistry.Snapshot, deliveries: [String: Int]) -> [Agent] {
        var agents = snapshot.agents
        if let online { agents.removeAll { $0.isOnline != online } }
        if let text {
            agents.removeAll { !$0.id.lowercased().contains(text) && !$0.name.lowercased().contains(text) }
        }
        switch sort {
        case .agentID: break  // the registry's own order
        case .agentName: agents.sort { ($0.name, $0.id) < ($1.name, $1.id) }
        case .online: agents.sort { ($0.isOnline ? 0 : 1, $0.id) < ($1.isOnline ? 0 : 1, $1.id) }
        case .lastSeen:
            agents.sort {
                ($0.lastSeen?.timeIntervalSince1970 ?? 0, $0.id) < ($1.lastSeen?.timeIntervalSince1970 ?? 0, $1.id)
            }
        case .decisions: agents.sort { (deliveries[$0.id] ?? 0, $0.id) < (deliveries[$1.id] ?? 0, $1.id) }
        }
        if descending { agents.reverse() }
        return agents
    }
}

extension AgentQuery: Hashable {}
extension AgentQuery.Key: Hashable {}

/// Answers the filtered and sorted `/agents` queries (anyone on the admin port may ask them,
/// and each reads the whole registry): the same query on the same registry (unless sorted by
/// messages received), or within ``reuseFor`` of the last answer, is answered from the last
/// result, and at most
/// ``computationsPerSecond`` queries are computed each second: beyond that the client is told to
/// come back (429). Eight clients polling `?q=1&sort=last_seen` on 100,000 agents slowed routing
/// tenfold before.
public final class AgentQueryCache: Sendable {
    static let reuseFor: Duration = .milliseconds(500)
    static let computationsPerSecond = 4
    private struct Entry {
        var version: UInt64
        var at: ContinuousClock.Instant
        var agents: [Agent]
    }
    private let state = Mutex(
        (entries: [AgentQuery: Entry](), window: ContinuousClock.Instant?.none, computed: 0, total: 0))

    /// Queries computed so far (the rest were answered from a result or refused).
    public var computations: Int { state.withLock { $0.total } }

    /// The agents `query` selects in `snapshot`, or nil when the budget of this second is spent.
    func agents(
        _ query: AgentQuery, in snapshot: AgentRegistry.Snapshot, deliveries: @autoclosure () -> [String: Int]
    ) -> [Agent]? {
        let now = ContinuousClock.now
        let allowed = state.withLock { s -> Bool? in
            // The same registry gives the same answer, unless it is ordered by messages received.
            if let entry = s.entries[query],
                (entry.version == snapshot.version && query.sort != .decisions) || now - entry.at < Self.reuseFor
            {
                return nil  // answered from the last result
            }
            if let window = s.window, now - window < .seconds(1) {
                guard s.computed < Self.computationsPerSecond else { return false }
            } else {
                s.window = now
                s.computed = 0
            }
            s.computed += 1
            s.total += 1
            return true
        }
        switch allowed {
        case nil: return state.withLock { $0.entries[query]?.agents }
        case false?: return nil
        case true?:
            let agents = query.agents(of: snapshot, deliveries: deliveries())
            state.withLock { s in
                // A handful of recent queries, not one per query ever asked.
                if s.entries.count >= 16 { s.entries.removeAll() }
                s.entries[query] = Entry(version: snapshot.version, at: now, agents: agents)
            }
            return agents
        }
    }
}
