import BrokerCore

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

extension AdminServer {
    /// One agent as `/agents` shows it.
    static func describe(_ agent: Agent) -> JSONValue {
        .object(
            JSONObject([
                ("agent_id", .string(agent.id)), ("agent_name", .string(agent.name)),
                ("is_online", .bool(agent.isOnline)), ("last_seen", .string(agent.lastSeenRaw)),
                ("metrics", .object(JSONObject(agent.metrics.map { ($0.key, JSONValue.string($0.value)) }))),
            ]))
    }
}
