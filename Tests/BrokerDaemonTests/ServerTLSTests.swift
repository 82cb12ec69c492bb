import AgentServerSimulator
import BrokerApp
import BrokerCore
import BrokerDaemon
import BrokerTransports
import Foundation
import InMemoryTransport
import TestSupport
import Testing

/// `broker run` toward an agent server that speaks only TLS (`wss://` and gRPC over TLS): the
/// status stream follows the WebSocket onto TLS, verified against `--server-ca`.
@Suite(.serialized, .timeLimit(.minutes(10))) struct ServerTLSTests {
    /// The product's transports and the in-memory queues (`broker-dev run`'s set).
    let inMemory = TransportFactory.standard.registering(["memory"]) { try InMemoryTransport(url: $0) }

    func options(_ extra: [String]) throws -> RunOptions {
        try RunOptions.parse(
            [
                "--transport", "memory://tls-\(UUID().uuidString)", "--rules",
                root.appendingPathComponent("rules/default.yaml").path, "--admin-address", "127.0.0.1:0",
                "--no-watch-rules", "--metadata-queue", "", "--advertisement-queue", "",
            ] + extra)
    }

    @Test func aWSSServerGetsATLSStatusStreamVerifiedAgainstTheGivenCA() async throws {
        let certificates = try await TestCertificates()
        defer { certificates.remove() }
        let simulator = AgentServerSimulator(
            tls: .init(certificateChainPath: certificates.serverCertificate, privateKeyPath: certificates.serverKey))
        simulator.setAgents([AgentStatusRecord(agentID: "agent_tls", isOnline: true)])
        try await simulator.start()
        let daemon = try BrokerRunner.daemon(
            try options(["--websocket-url", simulator.webSocketURL, "--server-ca", certificates.caCertificate]),
            transports: inMemory)
        let running = Task { try await daemon.run() }
        try await eventually("the registry is synced over TLS", timeout: .seconds(20)) {
            daemon.registry.sync.state == .synced && daemon.registry.snapshot.agent(id: "agent_tls") != nil
        }
        daemon.stop()
        try await running.value
        await simulator.stop()
    }

    @Test func theTLSSettingsAreCheckedBeforeAnythingStarts() throws {
        #expect(throws: (any Error).self) { try options(["--grpc-tls", "sometimes"]) }
        #expect(throws: (any Error).self) { try options(["--server-ca", "/nonexistent/ca.pem"]) }
        let tls = AgentServerSettings.TLS()
        #expect(tls.grpcUsesTLS(webSocketURL: "wss://server.example/ws"))
        #expect(!tls.grpcUsesTLS(webSocketURL: "ws://server.example/ws"))
        var forced = tls
        forced.grpc = .on
        #expect(forced.grpcUsesTLS(webSocketURL: "ws://server.example/ws"))
        forced.grpc = .off
        #expect(!forced.grpcUsesTLS(webSocketURL: "wss://server.example/ws"))
    }
}
