import CoreMetrics
import Metrics
import Prometheus
import Synchronization

/// The daemon's metrics: one Prometheus registry, filled through the swift-metrics API.
///
/// ``factory`` is what the broker's own metrics use, and what `broker run` bootstraps
/// `MetricsSystem` with, so metrics that libraries emit (the admin server's HTTP metrics) land
/// in the same registry. The factory keeps Prometheus's conventions whatever a library names its
/// metrics: counters end in `_total`, timers are histograms in seconds ending in `_seconds`, and
/// every family has a help text.
public final class BrokerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    public let factory: any MetricsFactory

    /// Help texts of the broker's own metrics (by Prometheus name).
    static let help: [String: String] = [
        "broker_decisions_total": "Messages routed, by route and outcome.",
        "broker_dead_letters_total": "Messages dead-lettered, by reason code.",
        "broker_publish_retries_total":
            "Routed copies published again because a full queue refused them or no queue took them yet.",
        "broker_data_path_agents_refused_total":
            "Agent records from the input or metadata queue not applied: over --max-data-path-records/-agents, or (trust feed) about agents the feed does not know or taking a feed-known agent offline.",
        "broker_data_path_agents_unconfirmed_total":
            "Agent records from the input or metadata queue about agents the feed did not know (the feed was asked; trust feed).",
        "broker_dead_letter_failures_total": "Dead letters not confirmed (the input was requeued after a pause).",
        "broker_decision_seconds": "Time to evaluate the rules for one message.",
        "broker_registry_agents": "Agents in the registry.",
        "broker_registry_online_agents": "Online agents in the registry.",
        "broker_registry_staleness_seconds": "Seconds since the registry was last synced (-1: never).",
        "broker_registry_synced": "1 when the registry holds the current agent server's full list.",
        "broker_registry_state": "The registry's sync state (1 for the current one).",
        "broker_registry_state_since_timestamp_seconds": "When the registry entered its current sync state.",
        "broker_routing_paused": "1 while routing waits for the registry to sync.",
        "broker_registry_warming":
            "1 while the agent server's view settles after it (re)started: decisions that choose among agents wait.",
        "broker_messages_waiting_for_agents": "Messages held (unacknowledged) until the registry's warm-up ends.",
        "broker_messages_waiting_for_registry":
            "Messages delivered before the input paused, held (unacknowledged) until the registry syncs.",
        "broker_messages_waited_for_agents_total": "Messages that waited for a registry warm-up to end.",
        "broker_rules_last_reload_success": "1 if the last rule reload succeeded.",
        "broker_rules_last_reload_timestamp_seconds": "When the rules in force were loaded.",
        "broker_rules_reloads_total": "Rule reloads that put a new rule set in force.",
        "broker_rules_reload_failures_total": "Rule reloads refused because the rules were invalid.",
        "broker_rules_info": "The rule set in force (its hash).",
        "broker_connection_up": "Connection states (1 up, 0 down).",
        "broker_build_info": "The broker's version and the commit (revision) it was built from.",
        "hb_requests_total": "Admin HTTP requests (Hummingbird).",
        "hb_request_errors_total": "Admin HTTP requests that failed (Hummingbird).",
        "http_server_request_duration_seconds": "Admin HTTP request durations (Hummingbird).",
        "http_server_active_requests": "Admin HTTP requests in progress (Hummingbird).",
    ]

    public init() {
        var prometheus = PrometheusMetricsFactory(registry: registry)
        // Rule evaluation takes microseconds: buckets from 1 µs to 5 ms.
        prometheus.durationHistogramBuckets["broker_decision_seconds"] = [
            .nanoseconds(1_000), .nanoseconds(5_000), .microseconds(10), .microseconds(50), .microseconds(100),
            .microseconds(500), .milliseconds(1), .milliseconds(5),
        ]
        factory = ConventionalNames(prometheus: prometheus)
    }

    /// The metrics in Prometheus text format.
    public func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

/// A metrics factory that passes Prometheus-conventional names (and help texts) to the
/// Prometheus factory and registry.
struct ConventionalNames: MetricsFactory {
    let prometheus: PrometheusMetricsFactory

    /// `hb.requests` → `hb_requests_total` for a counter, and so on.
    static func name(_ label: String, suffix: String) -> String {
        var name = String(label.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" ? $0 : "_" })
        if !suffix.isEmpty && !name.hasSuffix(suffix) { name += suffix }
        return name
    }

    static func help(_ name: String) -> String { BrokerMetrics.help[name] ?? "\(name) (reported by a library)." }

    /// `name` (already conventional, suffix included) with its help text.
    static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help(name))
    }

    static func labels(_ dimensions: [(String, String)]) -> [(String, String)] {
        dimensions.map { (name($0.0, suffix: ""), $0.1) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let name = Self.name(label, suffix: "_total")
        return prometheus.registry.makeCounter(descriptor: Self.descriptor(name), labels: Self.labels(dimensions))
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        let name = Self.name(label, suffix: "_total")
        return prometheus.registry.makeCounter(descriptor: Self.descriptor(name), labels: Self.labels(dimensions))
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let name = Self.name(label, suffix: "")
        let labels = Self.labels(dimensions)
        guard aggregate else { return prometheus.registry.makeGauge(descriptor: Self.descriptor(name), labels: labels) }
        let buckets = prometheus.valueHistogramBuckets[name] ?? prometheus.defaultValueHistogramBuckets
        return prometheus.registry.makeValueHistogram(
            descriptor: Self.descriptor(name), labels: labels, buckets: buckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        let name = Self.name(label, suffix: "")
        return prometheus.registry.makeGauge(descriptor: Self.descriptor(name), labels: Self.labels(dimensions))
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let name = Self.name(label, suffix: "_seconds")
        let buckets = prometheus.durationHistogramBuckets[name] ?? prometheus.defaultDurationHistogramBuckets
        return prometheus.registry.makeDurationHistogram(
            descriptor: Self.descriptor(name), labels: Self.labels(dimensions), buckets: buckets)
    }

    func destroyCounter(_ handler: any CounterHandler) { prometheus.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        prometheus.destroyFloatingPointCounter(handler)
    }
    func destroyRecorder(_ handler: any RecorderHandler) { prometheus.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { prometheus.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { prometheus.destroyTimer(handler) }
}
