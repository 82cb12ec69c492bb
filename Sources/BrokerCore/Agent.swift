import Foundation

/// What the broker knows about one agent, as the agent server reported it.
public struct Agent: Sendable, Hashable {
    /// The server's id for the agent, such as `agent_1a2b3c4d`.
    public var id: String
    /// The agent's display name.
    public var name: String
    /// Whether the server currently sees the agent connected.
    public var isOnline: Bool
    /// `last_seen` exactly as the server sent it.
    public var lastSeenRaw: String
    /// `last_seen` parsed (ISO-8601 or `HH:MM:SS`), or `nil` when it could not be parsed.
    public var lastSeen: Date?
    /// Whatever else the server knows: skills, load, queue depth. Strings, as on the wire.
    public var metrics: AgentMetrics
    /// ``StableHash/hash(_:)`` of ``id``, kept for consistent-hash selection.
    public let idHash: UInt64

    public init(
        id: String, name: String = "", isOnline: Bool, lastSeenRaw: String = "", lastSeen: Date? = nil,
        metrics: AgentMetrics = AgentMetrics()
    ) {
        self.id = id
        self.name = name
        self.isOnline = isOnline
        self.lastSeenRaw = lastSeenRaw
        self.lastSeen = lastSeen
        self.metrics = metrics
        self.idHash = StableHash.hash(id)
    }

    /// Creates an agent from a status record, parsing `last_seen` relative to `now`.
    public init(_ record: AgentStatusRecord, now: Date = Date()) {
        self.init(
            id: record.agentID, name: record.agentName, isOnline: record.isOnline,
            lastSeenRaw: record.lastSeen, lastSeen: Timestamp.parse(record.lastSeen, relativeTo: now),
            metrics: AgentMetrics(record.metrics))
    }
}

/// An agent's metrics: string values, with their numeric reading parsed once.
///
/// Stored as a small array sorted by key: an agent has a handful of metrics, and this takes a
/// fraction of the memory of two dictionaries while looking up just as fast.
public struct AgentMetrics: Sendable, Hashable, Sequence {
    /// One metric.
    public struct Entry: Sendable, Hashable {
        public let key: String
        public let value: String
        /// `value` read as a number, when it is one.
        public let number: Double?
    }

    private var entries: [Entry]

    /// Creates metrics from a dictionary.
    public init(_ values: [String: String] = [:]) {
        entries = values.map { Entry(key: $0.key, value: $0.value, number: Double($0.value)) }
            .sorted { $0.key < $1.key }
    }

    /// The entry for `key`.
    @inlinable public func entry(_ key: String) -> Entry? {
        for entry in self where entry.key == key { return entry }
        return nil
    }

    /// The string value for `key`.
    public subscript(key: String) -> String? { entry(key)?.value }

    /// The metrics as a dictionary.
    public var dictionary: [String: String] {
        Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
    }

    public var count: Int { entries.count }
    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }
}

/// One agent as a status update describes it (the gRPC `AgentInfo`, or its JSON form).
public struct AgentStatusRecord: Sendable, Hashable {
    public var agentID: String
    public var agentName: String
    public var isOnline: Bool
    public var lastSeen: String
    public var metrics: [String: String]

    public init(
        agentID: String, agentName: String = "", isOnline: Bool, lastSeen: String = "",
        metrics: [String: String] = [:]
    ) {
        self.agentID = agentID
        self.agentName = agentName
        self.isOnline = isOnline
        self.lastSeen = lastSeen
        self.metrics = metrics
    }
}

/// A batch of agent statuses: a full list that replaces the registry, or a partial one that
/// merges into it.
public struct AgentStatusUpdate: Sendable, Hashable {
    public var agents: [AgentStatusRecord]
    public var isFullUpdate: Bool

    public init(agents: [AgentStatusRecord], isFullUpdate: Bool) {
        self.agents = agents
        self.isFullUpdate = isFullUpdate
    }
}
