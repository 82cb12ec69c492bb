import BrokerCore
import BrokerTransports
import Foundation
import RoutingRules

/// A status feed from a registry snapshot file (YAML or JSON, the `AgentStatusResponse` shape):
/// for `broker route`, `explain`, tests and the demo. The file is the whole truth, so the
/// registry is never stale; `reload()` re-reads it.
public struct StaticStatusFeed: StatusFeed {
    public let path: String
    public let registry: AgentRegistry

    public init(path: String, registry: AgentRegistry) throws {
        self.path = path
        self.registry = registry
        try reload()
    }

    /// Reads the file and replaces the registry with it.
    public func reload() throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RuleSourceError(path: path, message: "cannot read the registry file")
        }
        let snapshot = try YAMLData.registry([UInt8](data), name: path)
        registry.apply(
            AgentStatusUpdate(
                agents: snapshot.agents.map {
                    AgentStatusRecord(
                        agentID: $0.id, agentName: $0.name, isOnline: $0.isOnline, lastSeen: $0.lastSeenRaw,
                        metrics: $0.metrics.dictionary)
                }, isFullUpdate: true))
        registry.health.markHealthy()
    }

    public func run() async {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }
}
