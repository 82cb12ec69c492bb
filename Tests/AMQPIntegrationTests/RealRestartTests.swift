import AMQPTransport
import BrokerCore
import Foundation
import TestSupport
import Testing

/// The agent server restarts as the real one does (wire-protocol §6): it comes back **empty**,
/// its agents reconnect one by one under new ids, some never. A backlog that waited in
/// `broker_input_queue` through the outage must reach the agents that come back, not go out as
/// "No online agents available" ERRORs on the empty list. Separate processes on loopback
/// (`broker-dev simulate-server`, `broker run`, RabbitMQ).
extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct RealRestartTests {
        /// What one restart did to a backlog.
        struct RestartRun: CustomStringConvertible {
            var backlog: Int
            /// Delivered to an agent that is there (as a TEXT, not an ERROR).
            var delivered: Int
            /// Gone end to end: dropped by the server as an unknown receiver, or delivered as an ERROR.
            var lost: Int
            /// From the server listening again to the last message settled.
            var delay: Double
            /// Agents the server knew when the backlog was settled.
            var agentsBack: Int

            var description: String {
                "backlog \(backlog): delivered \(delivered), lost \(lost), last one \(String(format: "%.1f", delay)) s after the server listened, \(agentsBack) agents back"
            }
        }

        /// Restarts the server of `system` under a running broker with a backlog of `backlog`
        /// TEXT messages from a frontend published while it is down, and counts what happened.
        static func restart(
            _ system: WholeSystem, backlog: Int, spread: Double, neverReturn: Double, timeout: Duration = .seconds(90)
        ) async throws -> RestartRun {
            try await system.restartServer(outage: 6, spread: spread, neverReturn: neverReturn)
            try await eventually("the server is down", timeout: .seconds(10)) { !(try await system.status().listening) }
            try await eventually("the broker notices", timeout: .seconds(10)) { !(await system.brokerReady()) }
            let before = try await system.status().messages
            try await system.vhost.publish(
                (0..<backlog).map { text("backlog-\($0)", from: "web_1") }, to: "broker_input_queue")
            try await eventually("the server listens again", timeout: .seconds(30), every: .milliseconds(10)) {
                try await system.status().listening
            }
            let listening = try #require(try await system.status().listeningSince)
            var settledAt = Date()
            try await eventually("every message of the backlog is delivered or dropped", timeout: timeout) {
                let counts = try await system.status().messages
                let done =
                    (counts["delivered"] ?? 0) - (before["delivered"] ?? 0) + (counts["dropped_unknown"] ?? 0)
                    - (before["dropped_unknown"] ?? 0)
                settledAt = Date()
                return done >= backlog
            }
            let status = try await system.status()
            var delivered = 0
            var errors = 0
            for agent in status.agents {
                let messages = await system.vhost.drain("agent_queue_\(agent.id)")
                delivered += messages.filter { $0.message?.messageType == "TEXT" }.count
                errors += messages.filter { $0.message?.messageType == "ERROR" }.count
            }
            let dropped = (status.messages["dropped_unknown"] ?? 0) - (before["dropped_unknown"] ?? 0)
            return RestartRun(
                backlog: backlog, delivered: delivered, lost: dropped + errors,
                delay: settledAt.timeIntervalSince(listening), agentsBack: status.agents.count)
        }

        @Test(arguments: [(spread: 4.0, neverReturn: 0.0), (spread: 4.0, neverReturn: 0.34)])
        func aBacklogWaitingThroughARealRestartReachesTheAgentsThatComeBack(spread: Double, neverReturn: Double)
            async throws
        {
            try await withWholeSystem(agents: 3) { system in
                try system.startBroker()
                try await eventually("the broker is ready", timeout: .seconds(30)) { await system.brokerReady() }
                let run = try await Self.restart(system, backlog: 20, spread: spread, neverReturn: neverReturn)
                // The warm-up ends with two of three back; the rest keeps reconnecting.
                #expect(run.agentsBack >= 2, "\(run)")
                try await eventually("the agents that return are back", timeout: .seconds(10)) {
                    try await system.status().agents.count == (neverReturn == 0 ? 3 : 2)
                }
                #expect(run.lost == 0, "lost end to end: \(run)")
                #expect(run.delivered == 20, "\(run)")
                #expect(try system.vhost.count("broker_dead_letter") == 0)
                #expect(try system.vhost.count("broker_input_queue") == 0)
                let log = system.broker?.output ?? ""
                #expect(log.contains("decisions that choose among agents wait"), "the warm-up is in the log")
                #expect(log.contains("warm-up over"), "and its end")
                print("real restart, agents back within \(spread) s, \(Int(neverReturn * 100)) % never: \(run)")
            }
        }

        /// The figures behind the README's warm-up table (by hand: BROKER_RESTART_MEASURE=1):
        /// loss and delay for 0, 1 and 20 agents coming back over 0-30 s.
        @Test(.enabled(if: ProcessInfo.processInfo.environment["BROKER_RESTART_MEASURE"] != nil))
        func measureLossAndDelayAcrossRealRestarts() async throws {
            let cases: [(agents: Int, neverReturn: Double, spread: Double)] = [
                (1, 1, 0), (3, 0.67, 0), (3, 0.67, 10), (3, 0.67, 30), (20, 0, 0), (20, 0, 10), (20, 0, 30),
                (20, 0.1, 30),
            ]
            for (agents, neverReturn, spread) in cases {
                try await withWholeSystem(agents: agents) { system in
                    try system.startBroker()
                    try await eventually("the broker is ready", timeout: .seconds(30)) { await system.brokerReady() }
                    let run = try await Self.restart(
                        system, backlog: 100, spread: spread, neverReturn: neverReturn, timeout: .seconds(120))
                    print(
                        "MEASURE agents \(agents), back \(run.agentsBack), spread \(spread) s: lost \(run.lost)/100, delivered \(run.delivered), last settled \(String(format: "%.1f", run.delay)) s after listening"
                    )
                }
            }
        }
    }
}
