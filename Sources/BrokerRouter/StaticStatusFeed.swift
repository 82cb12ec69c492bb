import BrokerCore
import BrokerTransports
import Foundation
import RoutingRules

/// A status feed from a registry snapshot file (YAML or JSON, the `AgentStatusResponse` shape):
/// for `broker route`, `explain`, tests and the demo. The file is the whole truth, so the
/// registry is never stale; `reload()` re-reads it.
public struct StaticStatusFeed: StatusFeed, AgentFeed {
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
        var update = try YAMLData.statusUpdate([UInt8](data), name: path)
        update.isFullUpdate = true  // the file is the whole registry
        registry.apply(update)
        registry.sync.markSynced()
    }

    /// Returns at once: the file is read when the feed is made, and on ``reload()``.
    public func run() async {}
}
