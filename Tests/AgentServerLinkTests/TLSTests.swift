import AgentServerSimulator
import AgentStatusGRPC
import BrokerCore
import NIOSSL
import ServerLinkWebSocket
import TestSupport
import Testing

/// The agent-server link over TLS (issue: "gRPC is always plaintext, even when the WebSocket is
/// wss://"), against a simulator that serves `wss://` and gRPC with a certificate from a CA the
/// test makes, on 127.0.0.1 (an IP address: no SNI name may be sent).
@Suite(.serialized, .timeLimit(.minutes(10))) struct TLSTests {
    func simulator(_ certificates: TestCertificates) async throws -> AgentServerSimulator {
        let simulator = AgentServerSimulator(
            tls: .init(certificateChainPath: certificates.serverCertificate, privateKeyPath: certificates.serverKey))
        simulator.setAgents(agents(3))
        try await simulator.start()
        return simulator
    }

    @Test func overTLSToAnIPAddressTheLinkRegistersAndTheStatusStreamSyncs() async throws {
        let certificates = try await TestCertificates()
        defer { certificates.remove() }
        let simulator = try await simulator(certificates)
        #expect(simulator.webSocketURL.hasPrefix("wss://127.0.0.1:"))
        let h = Harness(simulator: simulator) { link, feed in
            link.tls.trustRoots = .file(certificates.caCertificate)
            feed.security = .tls(trustRoots: certificates.caCertificate)
        }
        try await eventually("synced over TLS", timeout: .seconds(20)) {
            h.agentRegistry.snapshot.count == 3 && h.agentRegistry.sync.state == .synced
        }
        #expect(simulator.subscribedBrokerIDs == [h.registeredID ?? "?"])
        await h.stop()
    }

    @Test func aServerWhoseCertificateNoTrustedCASignedIsRefused() async throws {
        let certificates = try await TestCertificates()
        let stranger = try await TestCertificates(name: "someone else's CA")
        defer {
            certificates.remove()
            stranger.remove()
        }
        let simulator = try await simulator(certificates)
        let h = Harness(simulator: simulator) { link, _ in link.tls.trustRoots = .file(stranger.caCertificate) }
        try await eventually("two refused attempts", timeout: .seconds(20)) { h.link.failedAttempts.count >= 2 }
        #expect(h.registeredID == nil)
        let reason = h.link.failedAttempts.lastReason ?? ""
        #expect(reason.contains("TLS certificate is not trusted") && reason.contains("--server-ca"), "\(reason)")
        await h.stop()
    }

    @Test func aStatusStreamFromAnUntrustedServerNeverReachesTheRegistry() async throws {
        let certificates = try await TestCertificates()
        let stranger = try await TestCertificates(name: "someone else's CA")
        defer {
            certificates.remove()
            stranger.remove()
        }
        let simulator = try await simulator(certificates)
        let h = Harness(simulator: simulator) { link, feed in
            link.tls.trustRoots = .file(certificates.caCertificate)
            feed.security = .tls(trustRoots: stranger.caCertificate)
        }
        try await eventually("registered, and the stream retried", timeout: .seconds(20)) {
            h.registeredID != nil && h.feed.reconnects >= 2
        }
        #expect(h.agentRegistry.snapshot.count == 0)
        #expect(h.agentRegistry.sync.state != .synced)
        await h.stop()
    }

    @Test func aLinkOnTLSIsNeverRedirectedToPlaintext() {
        var configuration = WebSocketServerLink.Configuration()
        configuration.url = "wss://server.example/ws"
        let link = WebSocketServerLink(configuration: configuration)
        link.redirect(to: "ws://attacker.example/ws")
        #expect(link.url == "wss://server.example/ws")
        link.redirect(to: "wss://server-2.example/ws")
        #expect(link.url == "wss://server-2.example/ws")
    }
}
