import Synchronization

/// Which node of a RabbitMQ cluster a consumer or publisher connects to: the first, and after a
/// failed or lost connection the next one, round the list (``AMQPConfiguration/otherNodes``).
/// A single node is simply retried.
final class ClusterNodes: Sendable {
    private let configuration: AMQPConfiguration
    private let index = Atomic<Int>(0)

    init(_ configuration: AMQPConfiguration) { self.configuration = configuration }

    /// The configuration aimed at the node in use.
    var current: AMQPConfiguration { configuration.aimed(at: index.load(ordering: .relaxed)) }

    /// After a failure: the next node (when there are several).
    func moveOn() {
        guard !configuration.otherNodes.isEmpty else { return }
        index.wrappingAdd(1, ordering: .relaxed)
    }
}
