import BrokerCore
import BrokerDaemon
import Foundation
import Synchronization
import TestSupport
import Testing

/// Reloads that need nothing declared go live on the caller's thread; the preparation (the
/// daemon declares queues) runs only for rules that name a queue no earlier rules named.
@Suite(.timeLimit(.minutes(10))) struct RuleReloaderTests {
    static func rules(output: String, stamp: String) -> String {
        """
        version: 1
        defaults: { output: \(output) }
        routes:
          - name: stamp
            set: { stamp: "\(stamp)" }
            deliver: as_is
        """
    }

    /// Every preparation asked for (the queues of its rules), and whether it should fail.
    final class Preparations: Sendable {
        let calls = Mutex<[Set<String>]>([])
        let failing = Mutex(false)
    }

    /// A rule directory, a reloader on it, and a record of every preparation.
    final class Fixture: Sendable {
        let directory: URL
        let reloader: RuleReloader
        let preparations = Preparations()

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("reloader-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try RuleReloaderTests.rules(output: "out_a", stamp: "0")
                .write(to: directory.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
            reloader = try RuleReloader(paths: [directory.path], registry: AgentRegistry())
            reloader.prepare { [preparations] ruleSet in
                preparations.calls.withLock { $0.append(ruleSet.namedQueues) }
                if preparations.failing.withLock({ $0 }) { throw CancellationError() }
            }
        }

        func write(output: String, stamp: String) throws {
            try RuleReloaderTests.rules(output: output, stamp: stamp)
                .write(to: directory.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
        }

        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    @Test func rulesThatNameNoNewQueueGoLiveBeforeReloadNowReturns() throws {
        let fixture = try Fixture()
        try fixture.write(output: "out_a", stamp: "1")
        let result = fixture.reloader.reloadNow(reason: "test")
        guard case .loaded(let hash)? = result else {
            Issue.record("not loaded synchronously: \(String(describing: result))")
            return
        }
        #expect(fixture.reloader.holder.current.hash == hash)
        #expect(fixture.preparations.calls.withLock { $0 }.isEmpty)
    }

    @Test func aNewQueueIsPreparedOnceBeforeItsRulesGoLive() async throws {
        let fixture = try Fixture()
        let before = fixture.reloader.holder.current.hash
        try fixture.write(output: "out_b", stamp: "1")
        #expect(fixture.reloader.reloadNow(reason: "test") == nil, "handed to a task")
        try await waitUntil { fixture.reloader.holder.current.hash != before }
        #expect(fixture.preparations.calls.withLock { $0 } == [["out_b", "broker_dead_letter"]])
        // Back to a queue prepared before, then to one prepared since: nothing to prepare.
        try fixture.write(output: "out_a", stamp: "2")
        #expect(fixture.reloader.reloadNow(reason: "test") != nil)
        try fixture.write(output: "out_b", stamp: "3")
        #expect(fixture.reloader.reloadNow(reason: "test") != nil)
        #expect(fixture.preparations.calls.withLock { $0.count } == 1)
    }

    @Test func aFailedPreparationIsTriedAgainNextTime() async throws {
        let fixture = try Fixture()
        fixture.preparations.failing.withLock { $0 = true }
        try fixture.write(output: "out_c", stamp: "1")
        _ = await fixture.reloader.reload(reason: "test")
        #expect(fixture.preparations.calls.withLock { $0.count } == 1)
        // The rules went live anyway (the output declares the queue when it reconnects) …
        #expect(fixture.reloader.holder.current.defaultOutput == .queue("out_c"))
        fixture.preparations.failing.withLock { $0 = false }
        try fixture.write(output: "out_c", stamp: "2")
        _ = await fixture.reloader.reload(reason: "test")
        // … but the queue counts as declared only once a preparation succeeded.
        #expect(fixture.preparations.calls.withLock { $0.count } == 2)
    }

    func waitUntil(_ condition: @Sendable () -> Bool) async throws {
        try await eventually("the reloader got there", every: .milliseconds(5), condition)
    }
}

/// `--strict-rules`: start-up and reloads accept exactly what `validate-rules --strict` does.
@Suite(.timeLimit(.minutes(10))) struct StrictRulesTests {
    static let shadowed = """
        version: 1
        routes:
          - name: all
            deliver: as_is
          - name: never
            when: { message.message_type: TEXT }
            deliver: as_is
        """

    @Test func warningsRefuseRulesAtStartUpAndOnReloadOnlyWhenStrict() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strict-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("rules.yaml")
        try Self.shadowed.write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: RuleReloader.InvalidRules.self) {
            try RuleReloader(paths: [directory.path], registry: AgentRegistry(), strict: true)
        }
        _ = try RuleReloader(paths: [directory.path], registry: AgentRegistry(), strict: false)

        try RuleReloaderTests.rules(output: "q", stamp: "1").write(to: file, atomically: true, encoding: .utf8)
        let strict = try RuleReloader(paths: [directory.path], registry: AgentRegistry(), strict: true)
        let lenient = try RuleReloader(paths: [directory.path], registry: AgentRegistry(), strict: false)
        try Self.shadowed.write(to: file, atomically: true, encoding: .utf8)
        guard case .failed(let diagnostics) = await strict.reload(reason: "test") else {
            Issue.record("a strict reload accepted rules with warnings")
            return
        }
        #expect(diagnostics.last?.contains("--strict-rules") == true)
        #expect(strict.holder.current.routeNames == ["stamp"], "the rules in force stay")
        guard case .loaded = await lenient.reload(reason: "test") else {
            Issue.record("a lenient reload refused rules with only warnings")
            return
        }
    }
}
