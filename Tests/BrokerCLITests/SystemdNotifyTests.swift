import Foundation
import TestSupport
import Testing

/// A datagram socket standing in for systemd's notification socket.
final class NotifySocket: @unchecked Sendable {
    let path: String
    private let fd: Int32

    init() throws {
        path = temporaryPath("notify.sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// The datagrams received so far (waits up to 100 ms for each).
    func receive() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return messages }
            messages.append(String(decoding: buffer[..<count], as: UTF8.self))
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct SystemdNotifyTests {
    /// `broker-dev run` on in-memory queues with the default rules and three agents, telling
    /// `notify` what it does, with `environment` besides.
    func startBroker(notifying notify: NotifySocket, environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(
            "broker", executable: brokerDevExecutable,
            arguments: [
                "run", "--transport", "memory://notify-\(UUID())", "--rules", "rules/default.yaml", "--registry",
                "rules/registries/three-agents.yaml", "--admin-address", "127.0.0.1:0", "--no-watch-rules",
            ],
            environment: environment.merging(["NOTIFY_SOCKET": notify.path]) { $1 })
    }

    @Test func readyOnceRoutingReloadingAroundSIGHUPAndStoppingOnDrain() async throws {
        let notify = try NotifySocket()
        let broker = try startBroker(notifying: notify)
        var seen: [String] = []
        try await eventually("READY=1", timeout: .seconds(10)) {
            seen += notify.receive()
            return seen.contains { $0.contains("READY=1") }
        }
        #expect(seen.contains { $0.contains("STATUS=routing") })
        broker.send(SIGHUP)
        try await eventually("RELOADING=1, then READY=1", timeout: .seconds(10)) {
            seen += notify.receive()
            guard let reloading = seen.lastIndex(where: { $0.contains("RELOADING=1") }) else { return false }
            return seen[reloading].contains("MONOTONIC_USEC=") && seen[(reloading + 1)...].contains { $0 == "READY=1" }
        }
        broker.send(SIGTERM)
        try await eventually("STOPPING=1", timeout: .seconds(10)) {
            seen += notify.receive()
            return seen.contains { $0.contains("STOPPING=1") }
        }
        #expect(await broker.waitForExit(timeout: .seconds(15)) == 0, "\(broker.tail())")
    }

    /// Under systemd's watchdog (`WATCHDOG_USEC`), a broker that routes answers it at half the
    /// interval, for as long as it runs.
    @Test func aRoutingBrokerAnswersTheWatchdog() async throws {
        let notify = try NotifySocket()
        let broker = try startBroker(notifying: notify, environment: ["WATCHDOG_USEC": "400000"])
        var seen: [String] = []
        try await eventually("three WATCHDOG=1", timeout: .seconds(15)) {
            seen += notify.receive()
            return seen.filter { $0 == "WATCHDOG=1" }.count >= 3
        }
        broker.send(SIGTERM)
        #expect(await broker.waitForExit(timeout: .seconds(15)) == 0, "\(broker.tail())")
    }

    /// The unit as shipped passes `systemd-analyze verify` without a word (with the binary where
    /// the unit says it is), and has what a daemon needs: a watchdog, a state directory, an
    /// optional environment file.
    @Test func theShippedUnitVerifiesCleanly() async throws {
        let unit = try String(
            contentsOf: repositoryRoot.appendingPathComponent("deploy/broker.service"), encoding: .utf8)
        for line in ["WatchdogSec=60", "StateDirectory=broker", "EnvironmentFile=-/etc/broker/broker.env"] {
            #expect(unit.split(separator: "\n").contains { $0 == line }, "missing \(line)")
        }
        let copy = temporaryPath("broker.service")
        defer { try? FileManager.default.removeItem(at: copy) }
        let broker = repositoryRoot.appendingPathComponent(".build/debug/broker").path
        try unit.replacingOccurrences(of: "/usr/local/bin/broker", with: broker).write(
            to: copy, atomically: true, encoding: .utf8)
        let (status, output) = try await runCommand("/usr/bin/env", ["systemd-analyze", "verify", copy.path])
        #expect(status == 0 && output.isEmpty, "\(output)")
    }

    @Test func theShippedUnitScoresAtMostTwoPointFive() async throws {
        let (_, output) = try await runCommand(
            "/usr/bin/env", ["systemd-analyze", "security", "--offline=true", "deploy/broker.service"])
        let line = try #require(output.split(separator: "\n").last { $0.contains("Overall exposure level") })
        let score = try #require(
            line.split(separator: " ").compactMap { Double($0) }.first, "no score in: \(line)")
        #expect(score <= 2.5, "\(line)")
    }
}
