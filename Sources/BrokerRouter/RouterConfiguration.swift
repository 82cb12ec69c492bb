import BrokerCore

/// How the router decides and what it tolerates.
public struct RouterConfiguration: Sendable {
    /// Bodies larger than this are dead-lettered unread (default: RabbitMQ's own default limit
    /// since 4.0, 16 MiB; see ``MessageCost`` for what a message may take in memory).
    public var maximumMessageSize = Message.defaultMaximumSize
    /// A message routed this many times without leaving RabbitMQ (hop count in its properties)
    /// is dead-lettered as a cycle.
    public var maximumHops = 10
    /// A message that comes back to the broker this many times within ``roundTripWindow``,
    /// however its properties were rebuilt on the way, is dead-lettered as a cycle (0: off).
    public var maximumRoundTrips = 10
    public var roundTripWindow: Duration = .seconds(60)
    /// What to do while the registry is not synced with the agent server.
    public var stalePolicy = StalePolicy.wait
    /// How long a stale registry (status stream down, registration current) is routed on
    /// before ``stalePolicy`` applies.
    public var maximumStaleness: Duration = .seconds(10)
    /// How long a copy no queue takes (`NO_ROUTE`: its queue is missing, perhaps being
    /// re-created) is retried, with backoff, before the message is dead-lettered. A copy the
    /// broker refuses for now (a full queue) is retried until it is taken: that is back-pressure.
    public var unroutableRetry: Duration = .seconds(30)
    /// The clock the router's retry pauses are waited on (a refused or unroutable copy's backoff,
    /// the pause after a dead letter that did not go through); ``unroutableRetry`` counts the
    /// pauses taken on it. Tests give one that moves only when they advance it.
    public var pauses: any Clock<Duration> = ContinuousClock()
    /// At most this many agent records apply from one status message on the data path.
    public var maximumDataPathRecordsPerMessage = 1_000
    /// At most this many agents the registry did not know may be added from the data path.
    public var maximumDataPathAgents = 10_000
    /// Whether status messages on the data path may take feed-known agents offline and
    /// replace the list (``DataPathAdmission/Trust``).
    public var dataPathTrust = DataPathAdmission.Trust.feed
    /// Publish in input order (`broker run --single-active-consumer`): copies of a message go
    /// out after those of every message taken before it, confirms are still awaited many at
    /// once. A copy retried (refused, unroutable) or a message redelivered (unknown outcome,
    /// restart) can arrive after later ones. Off: messages are routed concurrently, in any order.
    public var keepsInputOrder = false

    /// What the router does while the registry is not synced.
    public enum StalePolicy: String, Sendable, CaseIterable {
        /// Stop taking messages (they stay in the input queue) until the registry syncs.
        case wait
        /// Route with the last known registry (the original broker's behaviour).
        case routeAnyway = "route"
        /// Dead-letter messages with reason `registry_unsynced` or `registry_stale`.
        case deadLetter = "dead-letter"

        /// Parses a policy name; `pause` is the older name of `wait`.
        public init?(name: String) {
            self.init(rawValue: name == "pause" ? "wait" : name)
        }
    }

    public init() {}
}
