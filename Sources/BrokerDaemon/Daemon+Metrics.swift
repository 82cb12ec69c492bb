import BrokerCore
import BrokerRouter
import CoreMetrics
import Foundation
import Synchronization

/// The gauges `/metrics` reads at scrape time: the registry, the rules in force and the
/// connections (counters and histograms are kept as things happen).
final class ScrapeGauges: Sendable {
    private let factory: any MetricsFactory
    private let infos = Mutex<[String: (identity: String, gauge: CoreMetrics.Gauge)]>([:])
    private let countedTotals = Mutex<[String: Int]>([:])

    init(metrics: BrokerMetrics) {
        factory = metrics.factory
        CoreMetrics.Gauge(
            label: "broker_build_info", dimensions: [("version", BuildInfo.version), ("revision", BuildInfo.commit)],
            factory: factory
        ).record(1)
    }

    func set(_ label: String, _ value: Double, _ dimensions: [(String, String)] = []) {
        CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
    }

    /// Brings counter `label` up to `total`, a running count kept elsewhere.
    func count(_ label: String, total: Int) {
        let delta = countedTotals.withLock { counted -> Int in
            defer { counted[label] = max(counted[label] ?? 0, total) }
            return total - (counted[label] ?? 0)
        }
        if delta > 0 { CoreMetrics.Counter(label: label, factory: factory).increment(by: delta) }
    }

    /// `broker_rules_info{hash}` for the rule set in force (the series of the previous one goes).
    func setRules(hash: String) { info("broker_rules_info", for: "rules", [("hash", hash)]) }

    /// An info gauge (value 1) whose labels describe something that changes (the rules in force,
    /// the node a connection uses): the series of its previous labels goes.
    func info(_ label: String, for key: String, _ dimensions: [(String, String)]) {
        let factory = self.factory
        let identity = dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        infos.withLock { infos in
            guard infos[key]?.identity != identity else { return }
            infos[key]?.gauge.destroy()
            let gauge = CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory)
            gauge.record(1)
            infos[key] = (identity, gauge)
        }
    }
}

extension Daemon {
    /// `/metrics`: Prometheus text of everything in ``BrokerMetrics``.
    public func renderMetrics() -> [UInt8] {
        let snapshot = registry.snapshot
        gauges.set("broker_registry_agents", Double(snapshot.count))
        gauges.set("broker_registry_online_agents", Double(snapshot.online.count))
        let staleness = snapshot.sync.staleness()
        gauges.set("broker_registry_staleness_seconds", staleness.isFinite ? staleness : -1)
        let sync = snapshot.sync.status
        gauges.set("broker_registry_synced", sync.state == .synced ? 1 : 0)
        for state in RegistrySync.State.allCases {
            gauges.set("broker_registry_state", state == sync.state ? 1 : 0, [("state", state.rawValue)])
        }
        gauges.set("broker_registry_state_since_timestamp_seconds", sync.since.timeIntervalSince1970.rounded())
        gauges.set("broker_registry_warming", sync.warmup == nil ? 0 : 1)
        gauges.set("broker_messages_waiting_for_agents", Double(router.statistics.waitingForAgents))
        gauges.set("broker_messages_waiting_for_registry", Double(router.statistics.waitingForRegistry))
        gauges.count("broker_messages_waited_for_agents_total", total: router.statistics.waitedForAgents)
        let paused = if case .wait = router.routingGate.verdict(sync) { 1.0 } else { 0.0 }
        gauges.set("broker_routing_paused", paused)
        let status = reloader.status
        gauges.set("broker_rules_last_reload_success", status.lastAttemptSucceeded ? 1 : 0)
        gauges.set("broker_rules_last_reload_timestamp_seconds", status.loadedAt.timeIntervalSince1970.rounded())
        gauges.setRules(hash: status.hash)
        gauges.count("broker_dead_letter_failures_total", total: router.deadLetters.failures)
        gauges.count("broker_publish_retries_total", total: router.statistics.retries)
        gauges.count("broker_data_path_agents_refused_total", total: router.dataPathAdmission.refused)
        gauges.count("broker_data_path_agents_unconfirmed_total", total: router.dataPathAdmission.unconfirmed)
        for (name, up) in connections { gauges.set("broker_connection_up", up ? 1 : 0, [("connection", name)]) }
        // Which RabbitMQ node (of a cluster) each connection uses now.
        for (role, health) in transports {
            gauges.info(
                "broker_connection_endpoint_info", for: "connection " + role,
                [("connection", role), ("endpoint", health.endpoint)])
        }
        return metrics.render()
    }
}
