import BrokerCore

/// Where a routed message is published.
public enum Destination: Sendable, Hashable, CustomStringConvertible {
    /// A queue on the default exchange.
    case queue(String)
    /// An exchange with a routing key.
    case exchange(String, routingKey: String)

    public var description: String {
        switch self {
        case .queue(let name): name
        case .exchange(let name, let key): "exchange \(name) (routing key \(key))"
        }
    }
}

/// One message to publish.
public struct Delivery: Sendable, Hashable {
    /// The message as it will be published.
    public var message: Message
    /// Where it goes.
    public var destination: Destination
    /// The agent a selection chose, if any.
    public var agentID: String?

    public init(message: Message, destination: Destination, agentID: String? = nil) {
        self.message = message
        self.destination = destination
        self.agentID = agentID
    }
}

/// What the rules decided for one message.
public struct Decision: Sendable, Hashable {
    /// What to do.
    public enum Outcome: Sendable, Hashable {
        /// Publish one message.
        case deliver(Delivery)
        /// Publish several (a selection with `count` above 1, or `all`).
        case broadcast([Delivery])
        /// Publish the original message, unchanged, to the dead-letter queue.
        case deadLetter(reason: String, queue: String)
        /// Acknowledge and publish nothing (only when a rule says so).
        case drop(reason: String)
        /// Apply the message to the agent registry as a status update; publish nothing.
        case statusUpdate
    }

    /// The route that produced the outcome; `nil` when no route matched.
    public var route: String?
    /// The outcome.
    public var outcome: Outcome
    /// Whether a selection among agents took part: its choice, or the `otherwise` taken because
    /// it found nobody, depends on who is online (the router holds such decisions while the
    /// registry warms up after the agent server restarted).
    public var choseAmongAgents: Bool

    public init(route: String?, outcome: Outcome, choseAmongAgents: Bool = false) {
        self.route = route
        self.outcome = outcome
        self.choseAmongAgents = choseAmongAgents
    }

    /// The messages to publish, whatever the outcome.
    public var deliveries: [Delivery] {
        switch outcome {
        case .deliver(let d): [d]
        case .broadcast(let ds): ds
        default: []
        }
    }
}
