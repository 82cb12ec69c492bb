import BrokerTransports

/// How the broker declares the queues it uses: the input it consumes, and the outputs and dead
/// letters it publishes to.
public struct QueueSettings: Sendable, Hashable {
    /// The RabbitMQ queue types the broker declares.
    public enum Kind: String, Sendable, CaseIterable {
        /// Classic durable queues, declared without `x-queue-type` as the original broker did, so
        /// queues that exist already keep matching. A classic queue lives on one node: its
        /// messages are unavailable while that node is down, and lost with its disk.
        case classic
        /// Quorum queues (`x-queue-type: quorum`): replicated with Raft over the cluster, they stay
        /// available and lose nothing confirmed while a majority of their nodes runs.
        case quorum
    }

    public var kind: Kind
    /// Quorum input queue: deliveries after which RabbitMQ stops redelivering a message
    /// (`x-delivery-limit`), a guard against a message that crashes every consumer. Beyond the
    /// limit RabbitMQ drops it unless a dead-letter policy routes it on (see the README).
    public var deliveryLimit: Int?
    /// The input queue delivers to one consumer at a time (`x-single-active-consumer`): replicas
    /// run active/standby and input order is kept.
    public var singleActiveConsumer: Bool

    public init(kind: Kind = .classic, deliveryLimit: Int? = nil, singleActiveConsumer: Bool = false) {
        self.kind = kind
        self.deliveryLimit = deliveryLimit
        self.singleActiveConsumer = singleActiveConsumer
    }

    /// The declare arguments of a queue; `input` for the queue the broker consumes.
    public func arguments(input: Bool) -> Headers {
        var entries: [Headers.Entry] = []
        if kind == .quorum { entries.append(.init(name: "x-queue-type", value: .longString(Array("quorum".utf8)))) }
        if input, kind == .quorum, let deliveryLimit {
            entries.append(.init(name: "x-delivery-limit", value: .int64(Int64(deliveryLimit))))
        }
        if input, singleActiveConsumer {
            entries.append(.init(name: "x-single-active-consumer", value: .boolean(true)))
        }
        return Headers(entries)
    }
}

/// A queue that exists with other arguments than the broker declares: RabbitMQ refuses the
/// declaration (`406 PRECONDITION_FAILED - inequivalent arg …`). Says what differs and how to fix it.
enum QueueMismatch {
    /// The explanation of RabbitMQ's refusal `text`, or `nil` when it is not such a refusal.
    static func explain(_ text: String) -> String? {
        guard let match = text.firstMatch(of: Self.pattern) else { return nil }
        let argument = String(match.argument)
        let queue = String(match.queue)
        let received = value(match.received)
        let current = value(match.current)
        let fix: String
        switch argument {
        case "x-queue-type":
            fix = "start the broker with --queue-type \(current ?? "classic")"
        case "x-delivery-limit":
            fix =
                current.map { "start the broker with --delivery-limit \($0)" }
                ?? "start the broker without --delivery-limit"
        case "x-single-active-consumer":
            fix =
                current == "true"
                ? "start the broker with --single-active-consumer" : "start the broker without --single-active-consumer"
        default:
            fix = "declare the queue as the broker does (durable, not exclusive or auto-delete)"
        }
        return """
            queue '\(queue)' (vhost '\(match.vhost)') exists with other settings than the broker declares: \
            \(argument) is \(current.map { "'\($0)'" } ?? "not set") on the queue, \
            \(received.map { "'\($0)'" } ?? "not set") in the declaration. Either \(fix), or re-create the \
            queue with the new settings (move its messages away first, then rabbitmqctl delete_queue \(queue); \
            the broker declares it again). RabbitMQ says: \(text)
            """
    }

    /// `the value 'quorum' of type 'longstr'` is `quorum`; `none` is nil.
    private static func value(_ text: Substring) -> String? {
        if let quoted = text.firstMatch(of: /the value '(?<value>[^']*)'/) { return String(quoted.value) }
        return text.hasPrefix("none") ? nil : String(text)
    }

    nonisolated(unsafe) private static let pattern =
        /inequivalent arg '(?<argument>[^']+)' for queue '(?<queue>[^']+)' in vhost '(?<vhost>[^']*)': received (?<received>.+?) but current is (?<current>.+)$/
}
