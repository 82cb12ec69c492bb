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

        /// `ruleSet` in force since `loadedAt`, after `reloads` reloads, the last one successful.
        public init(_ ruleSet: RuleSet, loadedAt: Date, reloads: Int) {
            hash = ruleSet.hash
            files = ruleSet.files
            self.loadedAt = loadedAt
            routes = ruleSet.routeNames.count
            lastAttempt = loadedAt
            lastAttemptSucceeded = true
            self.reloads = reloads
        }
    }

    /// The outcome of one reload.
    public enum Result: Sendable {
        case loaded(hash: String)
        case unchanged(hash: String)
        case failed(diagnostics: [String])
    }

    public let paths: [String]
    /// Whether warnings refuse rules (``RuleSetLoadResult/isAcceptable(strict:)``), at start-up
    /// and on every reload alike.
    public let strict: Bool
    public let holder: RuleSetHolder
    private let registry: AgentRegistry
    /// Whether the registry indexes the metrics these rules test (not for shadow rules: they
    /// must not change what the live rules find indexed).
    private let indexesRegistry: Bool
    private let logger: Logger
    private let state: Mutex<Status>
    /// Serializes reloads; holds the number of the newest one.
    private let serial = Mutex(0)
    private let preparation = Mutex<(@Sendable (RuleSet) async throws -> Void)?>(nil)
    /// The queues of every rule set in force so far whose preparation succeeded (the first one's
    /// are declared when the output is made).
    private let prepared: Mutex<Set<String>>
    private let reloads: CoreMetrics.Counter
    private let failures: CoreMetrics.Counter

    /// Loads the rules once; throws with the diagnostics when they are invalid.
    ///
    /// - Parameters:
    ///   - metricPrefix: the reload counters are `<prefix>_reloads_total` and
    ///     `<prefix>_reload_failures_total`.
    ///   - indexesRegistry: whether the registry indexes the metrics these rules test.
    public init(
        paths: [String], registry: AgentRegistry, strict: Bool = false, metrics: BrokerMetrics = BrokerMetrics(),
        metricPrefix: String = "broker_rules", indexesRegistry: Bool = true,
        logger: Logger = Logger(label: "broker.rules")
    ) throws {
        reloads = CoreMetrics.Counter(label: metricPrefix + "_reloads_total", factory: metrics.factory)
        failures = CoreMetrics.Counter(label: metricPrefix + "_reload_failures_total", factory: metrics.factory)
        let result = try RuleSetLoader().load(paths: paths)
        guard let ruleSet = result.ruleSet, result.isAcceptable(strict: strict) else {
            throw InvalidRules(diagnostics: Self.refusal(result, strict: strict))
        }
        for warning in result.warnings { logger.warning("\(warning)") }
        self.paths = paths
        self.strict = strict
        self.registry = registry
        self.indexesRegistry = indexesRegistry
        self.logger = logger
        self.holder = RuleSetHolder(ruleSet)
        self.prepared = Mutex(ruleSet.namedQueues)
        if indexesRegistry { registry.indexMetrics(ruleSet.indexedMetricKeys) }
        state = Mutex(Status(ruleSet, loadedAt: Date(), reloads: 0))
    }

    /// Rules that failed to load, with every diagnostic.
    public struct InvalidRules: Error, CustomStringConvertible {
        public var diagnostics: [String]
        public var description: String { diagnostics.joined(separator: "\n") }
    }

    public var status: Status { state.withLock { $0 } }

    /// What runs before a new rule set that names queues no earlier one named goes live (the
    /// daemon declares them); a failure is logged and the rules go live anyway. The caller
    /// bounds how long it takes.
    public func prepare(with preparation: @escaping @Sendable (RuleSet) async throws -> Void) {
        self.preparation.withLock { $0 = preparation }
    }

    /// Re-reads the files; swaps the rule set in when it is valid and different, after
    /// ``prepare`` (the daemon declares the queues the new rules name) has run or timed out.
    /// When reloads overlap, the one that read the files last wins.
    @discardableResult
    public func reload(reason: String) async -> Result {
        switch begin(reason: reason) {
        case .finished(let result): return result
        case .needsPreparation(let ruleSet, let generation):
            return await finish(ruleSet, generation: generation, reason: reason)
        }
    }

    /// ``reload(reason:)`` on the calling thread as far as it can go: a new rule set that names
    /// no new queue is in force when this returns (nothing waits for the task pool, which a
    /// router at full speed keeps busy); one that does is finished by a task once its queues
    /// are declared, and this returns `nil`.
    @discardableResult
    public func reloadNow(reason: String) -> Result? {
        switch begin(reason: reason) {
        case .finished(let result): return result
        case .needsPreparation(let ruleSet, let generation):
            Task { await finish(ruleSet, generation: generation, reason: reason) }
            return nil
        }
    }

    /// How far a reload got without awaiting anything.
    private enum Step {
        case finished(Result)
        case needsPreparation(RuleSet, generation: Int)
    }

    private func begin(reason: String) -> Step {
        let (built, generation) = serial.withLock { newest in
            newest += 1
            return (build(reason: reason), newest)
        }
        let ruleSet: RuleSet
        switch built {
        case .ruleSet(let built): ruleSet = built
        case .ended(let result): return .finished(result)
        }
        let hasPreparation = preparation.withLock { $0 != nil }
        guard hasPreparation, !prepared.withLock({ ruleSet.namedQueues.isSubset(of: $0) }) else {
            return .finished(commit(ruleSet, generation: generation, reason: reason))
        }
        return .needsPreparation(ruleSet, generation: generation)
    }

    private func finish(_ ruleSet: RuleSet, generation: Int, reason: String) async -> Result {
        if let prepare = preparation.withLock({ $0 }) {
            do {
                try await prepare(ruleSet)
                prepared.withLock { $0.formUnion(ruleSet.namedQueues) }
            } catch {
                logger.warning(
                    "could not prepare the output for the new rules now; it declares their queues when it reconnects",
                    metadata: ["error": "\(error)"])
            }
        }
        return commit(ruleSet, generation: generation, reason: reason)
    }

    private func commit(_ ruleSet: RuleSet, generation: Int, reason: String) -> Result {
        serial.withLock { newest in
            guard generation == newest else { return .unchanged(hash: holder.current.hash) }
            return swap(in: ruleSet, reason: reason)
        }
    }

    /// What loading the files gave: a new rule set, or how the reload ended without one.
    private enum Built {
        case ruleSet(RuleSet)
        case ended(Result)
    }

    private func build(reason: String) -> Built {
        let now = Date()
        let loaded: RuleSetLoadResult
        do {
            loaded = try RuleSetLoader().load(paths: paths)
        } catch {
            return .ended(fail(["\(error)"], now: now, reason: reason))
        }
        guard let ruleSet = loaded.ruleSet, loaded.isAcceptable(strict: strict) else {
            return .ended(fail(Self.refusal(loaded, strict: strict), now: now, reason: reason))
        }
        if ruleSet.hash == holder.current.hash {
            state.withLock {
                $0.lastAttempt = now
                $0.lastAttemptSucceeded = true
                $0.lastError = nil
            }
            return .ended(.unchanged(hash: ruleSet.hash))
        }
        return .ruleSet(ruleSet)
    }

    private func swap(in ruleSet: RuleSet, reason: String) -> Result {
        let now = Date()
        let current = holder.current
        if indexesRegistry { registry.indexMetrics(current.indexedMetricKeys.union(ruleSet.indexedMetricKeys)) }
        holder.replace(with: ruleSet)
        if indexesRegistry { registry.indexMetrics(ruleSet.indexedMetricKeys) }
        state.withLock {
            $0 = Status(ruleSet, loadedAt: now, reloads: $0.reloads + 1)
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

    /// Every diagnostic, and why rules with only warnings were refused.
    private static func refusal(_ result: RuleSetLoadResult, strict: Bool) -> [String] {
        var lines = result.diagnostics.map(\.description)
        if result.errors.isEmpty && strict {
            lines.append("--strict-rules: rules with warnings are refused (as validate-rules --strict refuses them)")
        }
        return lines
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

extension RuleReloader.Status {
    /// ``lastError`` as the admin endpoints show it: the diagnostics' lines, or null.
    var lastErrorJSON: JSONValue { lastError.map { .array($0.map(JSONValue.string)) } ?? .null }
}
