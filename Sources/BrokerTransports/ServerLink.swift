import BrokerCore

/// What the agent server answered when the broker registered: who the broker is now, and where
/// to subscribe for agent status.
public struct ServerRegistration: Sendable, Hashable, CustomStringConvertible {
    /// The server-assigned id (`broker_1a2b3c4d`); it changes with every registration.
    public var brokerID: String
    public var brokerName: String
    public var grpcHost: String
    public var grpcPort: Int

    public init(brokerID: String, brokerName: String, grpcHost: String, grpcPort: Int) {
        self.brokerID = brokerID
        self.brokerName = brokerName
        self.grpcHost = grpcHost
        self.grpcPort = grpcPort
    }

    public var description: String { "\(brokerID) (gRPC \(grpcHost):\(grpcPort))" }
}

/// Keeps an agent registry current (the gRPC stream from the agent server, a snapshot file, …).
public protocol StatusFeed: Sendable {
    /// Runs until the task is cancelled, applying what it learns to its registry and keeping the
    /// registry's ``BrokerCore/FeedHealth`` true to the feed's state.
    func run() async
}
