import BrokerDaemon
import Foundation
import InMemoryTransport
import TestSupport
import Testing

/// One HTTP exchange over a plain socket, so the test controls every header (URLSession sets
/// Host itself); returns what the server sent until it closed or `timeout` passed.
func rawHTTP(port: Int, _ text: String, timeout: Int = 5) throws -> String {
    let fd = try #require(connectToLoopback(port: port), "cannot connect to 127.0.0.1:\(port)")
    defer { close(fd) }
    var wait = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    _ = text.withCString { send(fd, $0, strlen($0), 0) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = recv(fd, &buffer, buffer.count, 0)
        if count <= 0 { break }
        received += buffer[..<count]
    }
    return String(decoding: received, as: UTF8.self)
}

/// ``rawHTTP(port:_:timeout:)`` on a thread of its own: the server's handlers need the task pool
/// that a blocking wait would hold (two such tests at once starved each other into timeouts).
func rawHTTPOffThePool(port: Int, _ text: String, timeout: Int = 5) async throws -> String {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try rawHTTP(port: port, text, timeout: timeout) }) }.start()
    }
}

@Suite(.timeLimit(.minutes(10))) struct AdminHardeningTests {
    @Test func onlyLoopbackHostNamesAreServedWithoutAToken() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try rules(version: "one").write(
            to: directory.appendingPathComponent("routes.yaml"), atomically: true, encoding: .utf8)
        let daemon = try memoryDaemon(rulesDirectory: directory, queues: InMemoryQueues())
        let running = Task { try await daemon.run() }
        try await eventually("the admin server listens") { daemon.admin.port != 0 }
        let port = daemon.admin.port
        let rebound = try await rawHTTPOffThePool(
            port: port, "GET /decisions HTTP/1.1\r\nHost: attacker.example:\(port)\r\nConnection: close\r\n\r\n")
        #expect(rebound.hasPrefix("HTTP/1.1 403"), "\(rebound.prefix(200))")
        for host in ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)"] {
            let local = try await rawHTTPOffThePool(
                port: port, "GET /healthz HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
            #expect(local.hasPrefix("HTTP/1.1 200"), "\(host): \(local.prefix(200))")
        }
        daemon.stop()
        try await running.value
    }

    /// A page on another origin reloaded the rules with a form post (CSRF): a browser's request
    /// that says it comes from elsewhere is refused; scripts (no Origin) and the console are not.
    @Test func aPageOnAnotherOriginCannotReloadTheRules() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("routes.yaml")
        try rules(version: "one").write(to: file, atomically: true, encoding: .utf8)
        let daemon = try memoryDaemon(rulesDirectory: directory, queues: InMemoryQueues()) { $0.watchRules = false }
        let running = Task { try await daemon.run() }
        try await eventually("the admin server listens") { daemon.admin.port != 0 }
        let port = daemon.admin.port
        let before = daemon.reloader.status.hash
        try rules(version: "two").write(to: file, atomically: true, encoding: .utf8)
        func reload(_ headers: String) async throws -> String {
            try await rawHTTPOffThePool(
                port: port,
                "POST /-/reload HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\(headers)Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        }
        for headers in [
            "Origin: http://attacker.example\r\n", "Origin: null\r\n", "Sec-Fetch-Site: cross-site\r\n",
            "Origin: http://127.0.0.1:\(port + 1)\r\n",
        ] {
            let answer = try await reload(headers)
            #expect(answer.hasPrefix("HTTP/1.1 403"), "\(headers): \(answer.prefix(200))")
        }
        #expect(daemon.reloader.status.hash == before, "no cross-site request reloaded the rules")
        let console = try await reload("Origin: http://127.0.0.1:\(port)\r\nSec-Fetch-Site: same-origin\r\n")
        #expect(console.hasPrefix("HTTP/1.1 200"), "the console's own page may: \(console.prefix(200))")
        #expect(daemon.reloader.status.hash != before)
        try rules(version: "three").write(to: file, atomically: true, encoding: .utf8)
        let script = try await reload("")
        #expect(script.hasPrefix("HTTP/1.1 200"), "curl and scripts send no Origin: \(script.prefix(200))")
        daemon.stop()
        try await running.value
    }

    @Test func idleConnectionsAreClosed() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try rules(version: "one").write(
            to: directory.appendingPathComponent("routes.yaml"), atomically: true, encoding: .utf8)
        let daemon = try memoryDaemon(rulesDirectory: directory, queues: InMemoryQueues()) {
            $0.admin.idleTimeout = .seconds(1)
        }
        let running = Task { try await daemon.run() }
        try await eventually("the admin server listens") { daemon.admin.port != 0 }
        let started = ContinuousClock.now
        // Sends nothing: the server closes the connection after its idle timeout.
        let answer = try await rawHTTPOffThePool(port: daemon.admin.port, "", timeout: 10)
        let held = ContinuousClock.now - started
        #expect(answer.isEmpty)
        #expect(held < .seconds(8), "an idle connection was held \(held)")
        daemon.stop()
        try await running.value
    }

    @Test func decisionTracesCanBeLeftOut() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try rules(version: "one").write(
            to: directory.appendingPathComponent("routes.yaml"), atomically: true, encoding: .utf8)
        let queues = InMemoryQueues()
        let daemon = try memoryDaemon(rulesDirectory: directory, queues: queues) {
            $0.admin.showsDecisionTraces = false
        }
        let running = Task { try await daemon.run() }
        queues.enqueue(
            Array(#"{"message_type":"TEXT","message_id":"secret-1","text_payload":"s3cret"}"#.utf8),
            to: "broker_input_queue")
        try await eventually("routed", timeout: .seconds(60)) { daemon.router.statistics.settled == 1 }
        let (_, decisions) = try await request("GET", "http://127.0.0.1:\(daemon.admin.port)/decisions")
        #expect(decisions.contains("secret-1") && !decisions.contains("explanation"), "\(decisions)")
        daemon.stop()
        try await running.value
    }
}
