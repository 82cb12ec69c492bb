import Foundation
import TestSupport
import Testing

/// The admin port as an attacker uses it: connections are capped below the process's file limit.
@Suite(.timeLimit(.minutes(10))) struct AdminLimitsTests {
    /// Open file descriptors of process `pid`.
    func openFiles(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// `count` TCP connections to 127.0.0.1:`port`, kept open (their sockets).
    func connect(_ count: Int, to port: Int) -> [Int32] {
        (0..<count).compactMap { _ in connectToLoopback(port: port) }
    }

    /// 1,100 idle admin connections took every file descriptor of the default soft limit (1,024):
    /// the AMQP reconnection then failed for 30 s. Now at most --admin-max-connections are open.
    @Test func idleAdminConnectionsAreCappedBelowTheFileLimit() async throws {
        let port = try freePort()
        let broker = try ChildProcess(
            "broker-admin-cap", executable: brokerDevExecutable,
            arguments: [
                "run", "--transport", "memory://cap", "--rules", "rules/default.yaml", "--registry",
                "rules/registries/three-agents.yaml", "--admin-address", "127.0.0.1:\(port)", "--no-watch-rules",
                "--admin-max-connections", "16",
            ])
        defer { broker.send(SIGKILL) }
        try await eventually("ready", timeout: .seconds(20)) {
            await http("GET", "http://127.0.0.1:\(port)/readyz", timeout: 1).status == 200
        }
        try await pace(.milliseconds(300))  // the process's own files opened after readiness
        let before = openFiles(broker.pid)
        let sockets = await Task.detached { connect(200, to: port) }.value
        #expect(sockets.count == 200, "the listen backlog takes the rest")
        try await remains("admin connections held open stay within the cap of 16", for: .seconds(1)) {
            openFiles(broker.pid) - before <= 16 + 2
        }
        let during = openFiles(broker.pid)
        for fd in sockets { close(fd) }
        try await eventually("the admin port answers again", timeout: .seconds(20)) {
            await http("GET", "http://127.0.0.1:\(port)/healthz", timeout: 1).status == 200
        }
        print("200 idle admin connections: \(during - before) open in the broker (cap 16)")
    }
}
