import AMQPTransport
import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import TestSupport
import Testing

/// The broker at the edges of time, as whole-system tests: start-up on a backlog, agent-server
/// restarts and outages, loops through the server. Separate processes on loopback (simulator,
/// `broker run`, real RabbitMQ).
extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct SyncedRoutingSystemTests {
        @Test func startingOnABacklogDecidesNothingBeforeTheAgentListArrives() async throws {
            try await withWholeSystem(agents: 3) { system in
                let ids = try await system.status().agents.map(\.id)
                let total = 10_000
                try await system.vhost.publish(
                    (0..<total).map { text("b\($0)", from: ids[$0 % ids.count]) }, to: "broker_input_queue")
                try system.startBroker()
                try await eventually("all \(total) messages are in agent queues", timeout: .seconds(120)) {
                    let counts = try await system.status().messages
                    return (counts["delivered"] ?? 0) + (counts["dropped_unknown"] ?? 0) >= total
                }
                let counts = try await system.status().messages
                #expect(counts["dropped_unknown"] == 0, "dropped by the server: \(counts)")
                var errors = 0
                var delivered = 0
                for id in ids {
                    let messages = await system.vhost.drain("agent_queue_\(id)")
                    delivered += messages.count
                    errors += messages.filter { $0.message?.messageType == "ERROR" }.count
                }
                #expect(errors == 0, "false start-up errors per \(total): \(errors)")
                #expect(delivered == total)
                #expect(try system.vhost.count("broker_dead_letter") == 0)
                print("start-up on a backlog of \(total): \(errors) ERRORs, \(delivered) delivered to agent queues")
            }
        }

        @Test func aServerRestartWithMessagesArrivingLosesNothingEndToEnd() async throws {
            try await withWholeSystem(agents: 3) { system in
                try system.startBroker()
                try await eventually("the broker is ready", timeout: .seconds(30)) { await system.brokerReady() }
                let before = try await system.status().agents.map(\.id)
                let publisher = AMQPPublisher(
                    configuration: system.vhost.configuration, declareQueues: ["broker_input_queue"])
                defer { publisher.beginGracefulShutdown() }
                // Half of the messages name a receiver, with the ids the server had before it restarted.
                let producer = Task { () -> Int in
                    var sent = 0
                    let deadline = ContinuousClock.now + .seconds(30)
                    while ContinuousClock.now < deadline {
                        let receiver = sent % 2 == 0 ? before[sent % before.count] : nil
                        let body = text("r\(sent)", from: before[(sent + 1) % before.count], to: receiver)
                        let result = await publisher.publish(
                            OutboundMessage(body: body, target: .queue("broker_input_queue")))
                        if case .confirmed = result { sent += 1 }
                        try? await pace(.milliseconds(20))
                    }
                    return sent
                }
                try await pace(.seconds(4))  // traffic flowing before the restart
                try await system.restartServer(outage: 20)
                let sent = await producer.value
                let after = try await system.status().agents.map(\.id)
                #expect(Set(after).isDisjoint(with: before), "the restarted server gave its agents new ids")
                try await eventually("every message is delivered or dead-lettered", timeout: .seconds(60)) {
                    let counts = try await system.status().messages
                    let dead = try system.vhost.count("broker_dead_letter")
                    return (counts["delivered"] ?? 0) + (counts["dropped_unknown"] ?? 0) + dead >= sent
                }
                let counts = try await system.status().messages
                let dead = try system.vhost.count("broker_dead_letter")
                #expect(counts["dropped_unknown"] == 0, "dropped by the restarted server: \(counts)")
                #expect((counts["delivered"] ?? 0) + dead == sent, "sent \(sent), counts \(counts), dead \(dead)")
                #expect(try system.vhost.count("broker_input_queue") == 0)
                print(
                    "server restart, 20 s outage: sent \(sent), delivered \(counts["delivered"] ?? 0), dead-lettered \(dead), dropped by the server \(counts["dropped_unknown"] ?? 0)"
                )
            }
        }

        @Test func afterEachOutageTheBrokerRoutesWithinTwoSecondsOfTheServerListening() async throws {
            try await withWholeSystem(agents: 3) { system in
                try system.startBroker()
                try await eventually("the broker is ready", timeout: .seconds(30)) { await system.brokerReady() }
                try await eventually("the start-up SERVER_AVAILABLE is consumed") {
                    try system.vhost.count("server_advertisement_queue") == 0
                }
                var worst = 0.0
                for round in 1...3 {
                    // Reconnection latency, not loss: the agents come back at once here, so a
                    // message right after the broker is ready has somewhere to go.
                    try await system.restartServer(outage: 15, mode: "same-agents")
                    try await eventually("the server is down", timeout: .seconds(5)) {
                        !(try await system.status().listening)
                    }
                    try await eventually("the broker notices", timeout: .seconds(5)) { !(await system.brokerReady()) }
                    try await eventually("the server listens again", timeout: .seconds(30), every: .milliseconds(10)) {
                        try await system.status().listening
                    }
                    try await eventually("the broker is ready again", timeout: .seconds(10), every: .milliseconds(10)) {
                        await system.brokerReady()
                    }
                    let listening = try #require(try await system.status().listeningSince)
                    let took = Date().timeIntervalSince(listening)
                    worst = max(worst, took)
                    #expect(took < 2, "outage \(round): ready \(took) s after the server listened")
                    let ids = try await system.status().agents.map(\.id)
                    let before = try system.agentQueueCounts(ids)
                    try await system.vhost.publish([text("after-\(round)", from: "web_1")], to: "broker_input_queue")
                    try await eventually("a message is routed to the new agents") {
                        try system.agentQueueCounts(ids) == before + 1
                    }
                    try await eventually("SERVER_AVAILABLE is consumed") {
                        try system.vhost.count("server_advertisement_queue") == 0
                    }
                }
                print("three 15 s outages: ready at worst \(String(format: "%.2f", worst)) s after the server listened")
            }
        }

        @Test func aPendingErrorLoopingThroughTheServerIsDeadLetteredAsACycle() async throws {
            let rules = try String(
                contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8)
            let start = try #require(rules.range(of: "  - name: error-pending"))
            let end = try #require(rules.range(of: "  - name: error-to-server"))
            let withoutErrorPending = rules.replacingCharacters(in: start.lowerBound..<end.lowerBound, with: "")
            try await withWholeSystem(agents: 3, rules: withoutErrorPending) { system in
                try system.startBroker()
                try await eventually("the broker is ready", timeout: .seconds(30)) { await system.brokerReady() }
                let ids = try await system.status().agents.map(\.id)
                let (a, b) = (ids[0], ids[1])

                let pendingError =
                    #"{"message_type":"ERROR","sender_id":"\#(a)","receiver_id":"\#(b)","message_id":"loop","text_payload":"boom","routing_status":"pending"}"#
                try await system.vhost.publish([Array(pendingError.utf8)], to: "broker_input_queue")
                try await eventually("the loop is dead-lettered", timeout: .seconds(30)) {
                    try system.vhost.count("broker_dead_letter") == 1
                }
                let dead = await system.vhost.drain("broker_dead_letter")
                #expect(dead.first?.headers[MessageRouter.Header.reasonCode]?.text == "routing_cycle")
                #expect(dead.first?.message?.messageID == "loop")
                let republished = try await system.status().messages["republished"] ?? 0
                #expect(republished == 10, "round trips before the cycle was broken: \(republished)")
                // The operator sees it in the log, not only in /metrics.
                let log = system.broker?.output ?? ""
                let line = log.split(separator: "\n").first { $0.contains("routing cycle broken") }
                #expect(line?.contains("message_id=loop") == true, "no log line for the broken cycle:\n\(log)")
                #expect(line?.contains("round_trips=10") == true, "\(line ?? "")")

                // A TEXT to an offline agent: the server sends an ERROR back once; it is delivered.
                try await system.setOnline(b, false)
                try await eventually("the broker sees \(b) offline") {
                    await http("GET", "http://127.0.0.1:\(system.adminPort)/agents?q=\(b)").body.contains(
                        #""is_online":false"#)
                }
                try await system.vhost.publish([text("to-offline", from: a, to: b)], to: "broker_input_queue")
                try await eventually("the ERROR reaches the sender", timeout: .seconds(15)) {
                    try system.vhost.count("agent_queue_\(a)") == 1
                }
                let delivered = await system.vhost.drain("agent_queue_\(a)")
                #expect(delivered.first?.message?.messageType == "ERROR")
                #expect(delivered.first?.message?[string: "routing_status"] == "error")
                #expect(try system.vhost.count("broker_dead_letter") == 0)
                print("pending ERROR loop: dead-lettered as routing_cycle after \(republished) round trips")
            }
        }
    }
}
