import BrokerApp
import BrokerCore
import BrokerDaemon
import BrokerTransports
import Foundation
import Synchronization
import TestSupport
import Testing

/// A transport written here, in the test target: adding it takes a factory registration and
/// nothing in the router, the rules or the daemon.
final class ToyTransport: Transport, @unchecked Sendable {
    let endpoint: String
    let published = Mutex<[OutboundMessage]>([])
    let acknowledged = Atomic(0)
    private let inputs = Mutex<[String: ToyInput]>([:])

    init(url: String) { endpoint = url }

    func makeInbound(queue: String, prefetch: Int, paused: Bool) -> any InboundSource {
        inputs.withLock { all in
            let input = ToyInput(name: queue, transport: self)
            all[queue] = input
            return input
        }
    }

    func makeOutbound(declaring queues: [String]) -> any OutboundSink { ToyOutput(transport: self) }

    /// Delivers `body` on `queue`.
    func send(_ body: String, to queue: String) {
        inputs.withLock { $0[queue] }?.deliver(Array(body.utf8))
    }

    final class ToyInput: InboundSource, @unchecked Sendable {
        let name: String
        let messages: AsyncStream<InboundMessage>
        private let continuation: AsyncStream<InboundMessage>.Continuation
        private let transport: ToyTransport
        private let done = AsyncSignal()

        init(name: String, transport: ToyTransport) {
            self.name = name
            self.transport = transport
            (messages, continuation) = AsyncStream.makeStream()
        }

        func deliver(_ body: [UInt8]) {
            continuation.yield(
                InboundMessage(body: body, source: name, settlement: ToySettlement(transport: transport)))
        }

        func pause() {}
        func resume() {}
        func run() async { _ = await done.wait(timeout: .seconds(60)) }
        func beginGracefulShutdown() {
            continuation.finish()
            done.signal()
        }
        var health: TransportHealth { TransportHealth(state: .connected, endpoint: "toy \(name)") }
    }

    struct ToyOutput: OutboundSink {
        let transport: ToyTransport
        func publish(_ message: OutboundMessage) async -> PublishResult {
            transport.published.withLock { $0.append(message) }
            return .confirmed
        }
        func run() async {}
        func beginGracefulShutdown() {}
        var health: TransportHealth { TransportHealth(state: .connected, endpoint: "toy output") }
    }

    struct ToySettlement: Settlement {
        let transport: ToyTransport
        func ack() { transport.acknowledged.add(1, ordering: .relaxed) }
        func reject(requeue: Bool) {}
    }
}

@Suite(.timeLimit(.minutes(10))) struct ToyTransportTests {
    @Test func aTransportFromTheTestTargetRunsThroughBrokerRunsOwnComposition() async throws {
        let toy = Mutex<ToyTransport?>(nil)
        let transports = TransportFactory.standard.registering(["toy"]) { url in
            let transport = ToyTransport(url: url)
            toy.withLock { $0 = transport }
            return transport
        }
        let options = try RunOptions.parse([
            "--transport", "toy://anything", "--rules", root.appendingPathComponent("rules/default.yaml").path,
            "--registry", root.appendingPathComponent("rules/registries/three-agents.yaml").path,
            "--admin-address", "127.0.0.1:0", "--no-watch-rules",
        ])
        let daemon = try BrokerRunner.daemon(options, transports: transports)
        let running = Task { try await daemon.run() }
        let transport = try #require(toy.withLock { $0 })
        try await eventually("the admin server listens") { daemon.admin.port != 0 }
        for i in 0..<5 {
            transport.send(
                #"{"message_type":"TEXT","sender_id":"web_1","message_id":"t\#(i)"}"#, to: "broker_input_queue")
        }
        try await eventually("five are routed and acknowledged") {
            transport.acknowledged.load(ordering: .relaxed) == 5
        }
        let published = transport.published.withLock { $0 }
        #expect(published.count == 5)
        #expect(published.allSatisfy { $0.target == .queue("server_input_queue") })
        #expect(daemon.readiness.contains { $0.check == "input" && $0.detail.contains("toy broker_input_queue") })
        daemon.stop()
        try await running.value
    }

    /// In-memory queues lose their messages when the process ends: the product does not offer
    /// them (the demo and the tests get them from `broker-dev`).
    @Test func theProductOffersNoInMemoryQueues() throws {
        #expect(throws: TransportURLError.self) { try TransportFactory.standard.transport(for: "memory://x") }
    }

    @Test func anUnknownSchemeIsAClearError() throws {
        #expect(throws: TransportURLError.self) { try TransportFactory.standard.transport(for: "kafka://x") }
        do {
            _ = try TransportFactory.standard.transport(for: "kafka://user:secret@x")
        } catch {
            #expect("\(error)".contains("known: amqp://, amqps://)"))
            #expect(!"\(error)".contains("secret"))
        }
    }
}
