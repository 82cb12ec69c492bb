import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import RoutingRules
import Synchronization
import TestSupport
import Testing

/// The batch path's boundaries: whatever a batch mixes, however its publish ends, and whenever
/// shutdown comes, every message of it is settled exactly once, the way it would be alone.
@Suite(.timeLimit(.minutes(2))) struct BatchBoundaryTests {
    static let rules = """
        version: 1
        defaults:
          output: out
          dead_letter: dead
          on_no_route:
            dead_letter: "unknown message_type '{message.message_type}'"
        routes:
          - name: noise
            when: { message.message_type: NOISE }
            drop: "noise is dropped"
          - name: status
            when: { message.message_type: AGENT_STATUS_UPDATE }
            status_update: true
          - name: two
            when: { message.message_type: SYSTEM }
            select: { agents: { online: true }, strategy: random, count: 2 }
          - name: text
            when: { message.message_type: TEXT }
            deliver: as_is
        """

    static func text(_ id: String) -> [UInt8] {
        Array(#"{"message_type":"TEXT","sender_id":"agent_a","receiver_id":"agent_b","message_id":"\#(id)"}"#.utf8)
    }

    static func message(_ type: String, _ id: String) -> [UInt8] {
        Array(#"{"message_type":"\#(type)","sender_id":"agent_a","message_id":"\#(id)"}"#.utf8)
    }

    @Test func aBatchMixingEveryOutcomeSettlesEachMessageOnceAndPublishesTheRoutedCopiesTogether() async throws {
        let inputs: [(String, [UInt8])] = [
            ("routed", Self.text("routed")),
            ("poison", Array(#"{"message_type":"TEXT","#.utf8)),
            ("unknown-type", Self.message("GOSSIP", "unknown-type")),
            ("lost-confirm", Self.text("lost-confirm")),
            ("noise", Self.message("NOISE", "noise")),
            (
                "status",
                Array(
                    #"{"message_type":"AGENT_STATUS_UPDATE","agents":[{"agent_id":"agent_d","is_online":true}]}"#.utf8)
            ),
            ("refused-once", Self.text("refused-once")),
            ("rejected", Self.text("rejected")),
            ("two-copies", Self.message("SYSTEM", "two-copies")),
        ]
        let sink = ScriptedSink { message, attempt in
            switch (message.id, message.target) {
            case ("lost-confirm", .queue("out")): .unknown(reason: "connection lost")
            case ("refused-once", .queue("out")) where attempt == 1: .refused(reason: "queue full")
            case ("rejected", .queue("out")): .rejected(reason: "cannot be carried")
            default: .confirmed
            }
        }
        let settled = try await route([inputs.map { $0 }], through: sink)

        #expect(settled.actions("routed") == ["ack"])
        #expect(settled.actions("poison") == ["ack"])
        #expect(settled.actions("unknown-type") == ["ack"])
        #expect(settled.actions("lost-confirm") == ["requeue"])
        #expect(settled.actions("noise") == ["ack"])
        #expect(settled.actions("status") == ["ack"])
        #expect(settled.actions("refused-once") == ["ack"])
        #expect(settled.actions("rejected") == ["ack"])
        #expect(settled.actions("two-copies") == ["ack"])
        // The four single-destination copies went out as one batch; the rest on their own.
        #expect(sink.batches.first == ["routed", "lost-confirm", "refused-once", "rejected"])
        #expect(sink.published(to: .queue("dead")).sorted() == ["poison", "rejected", "unknown-type"])
        #expect(sink.published(to: .queue("out")).filter { $0 == "two-copies" }.count == 2)
        #expect(sink.published(to: .queue("out")).filter { $0 == "refused-once" }.count == 2)
        #expect(sink.published(to: .queue("out")).filter { $0 == "routed" }.count == 1)
    }

    @Test func aConnectionLostInTheMiddleOfABatchRequeuesTheRestAndAcknowledgesWhatWasConfirmed() async throws {
        let ids = (1...10).map { "m\($0)" }
        // Confirms arrived for the first four; the connection went away before the others'.
        let sink = ScriptedSink { message, _ in
            (Int(message.id?.dropFirst() ?? "") ?? 0) <= 4 ? .confirmed : .unknown(reason: "connection lost")
        }
        let settled = try await route([ids.map { ($0, Self.text($0)) }], through: sink)
        for id in ids.prefix(4) { #expect(settled.actions(id) == ["ack"], "\(id)") }
        for id in ids.dropFirst(4) { #expect(settled.actions(id) == ["requeue"], "\(id)") }
        #expect(sink.batches == [ids])
    }

    @Test func shutdownInTheMiddleOfABatchWaitsForItAndSettlesEachMessageOnce() async throws {
        let ids = (1...20).map { "m\($0)" }
        let release = Gate()
        let sink = ScriptedSink(holdBatchesUntil: release) { _, _ in .confirmed }
        let source = BatchSource()
        let router = MessageRouter(
            rules: RuleSetHolder(try inlineRules(Self.rules)), registry: threeOnlineAgents(), output: sink)
        let run = Task { await router.run(source) }
        source.yield(ids.prefix(10).map { ($0, Self.text($0)) })
        source.yield(ids.dropFirst(10).map { ($0, Self.text($0)) })
        try await eventually("both batches are being published") { sink.waitingBatches == 2 }
        // The signal comes now: the input ends, and the router must not return before both
        // batches are settled.
        source.beginGracefulShutdown()
        let finished = Atomic(false)
        let watcher = Task {
            await run.value
            finished.store(true, ordering: .releasing)
        }
        try await remains("the router waits for the batches in flight", for: .milliseconds(300)) {
            !finished.load(ordering: .acquiring) && source.settled.total == 0
        }
        release.open()
        await watcher.value
        for id in ids { #expect(source.settled.actions(id) == ["ack"], "\(id)") }
    }

    /// Routes `batches` through a router with ``rules`` and returns once every message is settled.
    private func route(_ batches: [[(String, [UInt8])]], through sink: ScriptedSink) async throws -> Settled {
        let source = BatchSource()
        var configuration = RouterConfiguration()
        configuration.unroutableRetry = .zero
        let router = MessageRouter(
            rules: RuleSetHolder(try inlineRules(Self.rules)), registry: threeOnlineAgents(), output: sink,
            configuration: configuration)
        let run = Task { await router.run(source) }
        for batch in batches { source.yield(batch) }
        let count = batches.map(\.count).reduce(0, +)
        try await eventually("\(count) messages are settled") { source.settled.total >= count }
        source.beginGracefulShutdown()
        await run.value
        return source.settled
    }
}

/// Holds publishes back until a test opens it.
final class Gate: Sendable {
    private let opened = Atomic(false)
    func open() { opened.store(true, ordering: .releasing) }
    var isOpen: Bool { opened.load(ordering: .acquiring) }
}

/// What was done to each input message, by its id.
final class Settled: Sendable {
    private let log = Mutex<[String: [String]]>([:])

    func record(_ id: String, _ action: String) { log.withLock { $0[id, default: []].append(action) } }
    func actions(_ id: String) -> [String] { log.withLock { $0[id] ?? [] } }
    var total: Int { log.withLock { $0.values.map(\.count).reduce(0, +) } }
}

/// An input that delivers the batches a test gives it, with settlements that record each settle.
final class BatchSource: InboundSource, @unchecked Sendable {
    let batches: AsyncStream<[InboundMessage]>
    private let continuation: AsyncStream<[InboundMessage]>.Continuation
    let settled = Settled()

    init() { (batches, continuation) = AsyncStream.makeStream() }

    var messages: AsyncStream<InboundMessage> { batches.oneByOne }

    func yield(_ batch: [(String, [UInt8])]) {
        continuation.yield(
            batch.map { id, body in
                InboundMessage(
                    body: body, properties: MessageProperties(messageID: id), source: "in",
                    settlement: Recording(id: id, settled: settled))
            })
    }

    func pause() {}
    func resume() {}
    func run() async {}
    func beginGracefulShutdown() { continuation.finish() }
    var health: TransportHealth { TransportHealth(state: .connected, endpoint: "batches") }

    struct Recording: Settlement {
        let id: String
        let settled: Settled
        func ack() { settled.record(id, "ack") }
        func reject(requeue: Bool) { settled.record(id, requeue ? "requeue" : "reject") }
    }
}

/// An output whose outcomes a test scripts by message id and attempt, recording every publish
/// and every batch.
final class ScriptedSink: OutboundSink, @unchecked Sendable {
    private let outcome: @Sendable (OutboundMessage, Int) -> PublishResult
    private let release: Gate?
    private let state = Mutex<(published: [(PublishTarget, String?)], batches: [[String]], waiting: Int)>(([], [], 0))

    init(
        holdBatchesUntil release: Gate? = nil,
        _ outcome: @escaping @Sendable (OutboundMessage, Int) -> PublishResult
    ) {
        self.outcome = outcome
        self.release = release
    }

    var batches: [[String]] { state.withLock { $0.batches } }
    var waitingBatches: Int { state.withLock { $0.waiting } }
    func published(to target: PublishTarget) -> [String] {
        state.withLock { $0.published.filter { $0.0 == target }.compactMap(\.1) }
    }

    func publish(_ message: OutboundMessage) async -> PublishResult {
        let attempt = state.withLock { state in
            state.published.append((message.target, message.id))
            return state.published.filter { $0.0 == message.target && $0.1 == message.id }.count
        }
        return outcome(message, attempt)
    }

    func publish(_ messages: [OutboundMessage]) async -> [PublishResult] {
        state.withLock {
            $0.batches.append(messages.compactMap(\.id))
            $0.waiting += 1
        }
        while let release, !release.isOpen { try? await Task.sleep(for: .milliseconds(5)) }
        var results: [PublishResult] = []
        for message in messages { results.append(await publish(message)) }
        return results
    }

    func run() async {}
    func beginGracefulShutdown() {}
    var health: TransportHealth { TransportHealth(state: .connected, endpoint: "scripted") }
}

extension OutboundMessage {
    /// The id of the input it is a copy or dead letter of (the producer's message id property).
    fileprivate var id: String? { properties.messageID }
}
