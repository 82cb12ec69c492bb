import BrokerCore
import BrokerRouter
import CoreMetrics
import Foundation
import Logging
import RoutingRules
import Synchronization

/// Loads the rule files and puts a new rule set in force only when it is valid.
///
/// A reload builds the complete new rule set beside the old one and swaps it in atomically
/// (messages in flight finish on the rule set they started with). An invalid edit keeps the old
/// rules, logs every diagnostic at error level and records the failure for `/metrics` and `/rules`.
public final class RuleReloader: Sendable {
    /// What `/rules` reports.
    public struct Status: Sendable {
        public var hash: String
        public var files: [String]
        public var loadedAt: Date
        public var routes: Int
        public var lastError: [String]?
        public var lastAttempt: Date
        public var lastAttemptSucceeded: Bool
        public var reloads: Int
    }

    /// The outcome of one reload.
    public enum Result: Sendable {
        case loaded(hash: String)
        case unchanged(hash: String)
        case failed(diagnostics: [String])
    }

    public let paths: [String]
    public let holder: RuleSetHolder
    private let registry: AgentRegistry
    private let logger: Logger
    private let state: Mutex<Status>
    private let serial = Mutex(())
    private let reloads: CoreMetrics.Counter
    private let failures: CoreMetrics.Counter

    /// Loads the rules once; throws with the diagnostics when they are invalid.
    public init(
        paths: [String], registry: AgentRegistry, metrics: BrokerMetrics = BrokerMetrics(),
        logger: Logger = Logger(label: "broker.rules")
    ) throws {
        reloads = CoreMetrics.Counter(label: "broker_rules_reloads_total", factory: metrics.factory)
        failures = CoreMetrics.Counter(label: "broker_rules_reload_failures_total", factory: metrics.factory)
        let result = try RuleSetLoader().load(paths: paths)
        guard let ruleSet = result.ruleSet else {
            throw InvalidRules(diagnostics: result.diagnostics.map(\.description))
        }
        for warning in result.warnings { logger.warning("\(warning)") }
        self.paths = paths
        self.registry = registry
        self.logger = logger
        self.holder = RuleSetHolder(ruleSet)
        registry.indexMetrics(ruleSet.indexedMetricKeys)
        state = Mutex(
            Status(
                hash: ruleSet.hash, files: ruleSet.files, loadedAt: Date(), routes: ruleSet.routeNames.count,
                lastError: nil,
                lastAttempt: Date(), lastAttemptSucceeded: true, reloads: 0))
    }

    /// Rules that failed to load, with every diagnostic.
    public struct InvalidRules: Error, CustomStringConvertible {
        public var diagnostics: [String]
        public var description: String { diagnostics.joined(separator: "\n") }
    }

    public var status: Status { state.withLock { $0 } }

    /// Re-reads the files; swaps the rule set in when it is valid and different.
    @discardableResult
    public func reload(reason: String) -> Result {
        serial.withLock { _ in
            let now = Date()
            let loaded: RuleSetLoadResult
            do {
                loaded = try RuleSetLoader().load(paths: paths)
            } catch {
                return fail(["\(error)"], now: now, reason: reason)
            }
            guard let ruleSet = loaded.ruleSet else {
                return fail(loaded.diagnostics.map(\.description), now: now, reason: reason)
            }
            let current = holder.current
            if ruleSet.hash == current.hash {
                state.withLock {
                    $0.lastAttempt = now
                    $0.lastAttemptSucceeded = true
                    $0.lastError = nil
                }
                return .unchanged(hash: ruleSet.hash)
            }
            registry.indexMetrics(current.indexedMetricKeys.union(ruleSet.indexedMetricKeys))
            holder.replace(with: ruleSet)
            registry.indexMetrics(ruleSet.indexedMetricKeys)
            state.withLock {
                $0 = Status(
                    hash: ruleSet.hash, files: ruleSet.files, loadedAt: now, routes: ruleSet.routeNames.count,
                    lastError: nil,
                    lastAttempt: now, lastAttemptSucceeded: true, reloads: $0.reloads + 1)
            }
            reloads.increment()
            logger.info(
                "rules reloaded",
                metadata: [
                    "reason": "\(reason)", "hash": "\(ruleSet.hash.prefix(12))",
                    "routes": "\(ruleSet.routeNames.count)",
                ])
            return .loaded(hash: ruleSet.hash)
        }
    }

    private func fail(_ diagnostics: [String], now: Date, reason: String) -> Result {
        failures.increment()
        state.withLock {
            $0.lastError = diagnostics
            $0.lastAttempt = now
            $0.lastAttemptSucceeded = false
        }
        logger.error(
            "rule reload failed; keeping the rules in force",
            metadata: ["reason": "\(reason)", "errors": "\(diagnostics.count)"])
        for diagnostic in diagnostics { logger.error("\(diagnostic)") }
        return .failed(diagnostics: diagnostics)
    }
}
