import AMQPTestSupport
import AMQPTransport
import AgentServerSimulator
import BrokerCore
import BrokerTransports
import Foundation
import TestSupport
import Testing

/// The simulator's message path behaves like the agent server's (wire-protocol.md §3).
extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct SimulatedMessagePathTests {
        @Test func deliversBouncesDropsAndRepublishesAsTheServerDoes() async throws {
            try TestRabbitMQ.requireReachable()
            let vhost = try await TestRabbitMQ.makeVirtualHost()
            defer { vhost.delete() }
            let simulator = AgentServerSimulator(rabbitmq: vhost.configuration)
            simulator.setAgents([
                AgentStatusRecord(agentID: "agent_on", isOnline: true),
                AgentStatusRecord(agentID: "agent_off", isOnline: false),
            ])
            try await simulator.start()
            let announcement = await vhost.drain("server_advertisement_queue")
            #expect(announcement.count == 1)
            #expect(announcement.first?.message?.messageType == "SERVER_AVAILABLE")
            #expect(announcement.first?.message?[string: "websocket_url"] == simulator.webSocketURL)

            let inputs = [
                #"{"message_type":"TEXT","sender_id":"agent_off","receiver_id":"agent_on","message_id":"d","routing_status":"routed"}"#,
                #"{"message_type":"TEXT","sender_id":"agent_on","receiver_id":"agent_off","message_id":"b","routing_status":"routed"}"#,
                #"{"message_type":"TEXT","sender_id":"agent_on","receiver_id":"agent_gone","message_id":"u","routing_status":"routed"}"#,
                #"{"message_type":"TEXT","sender_id":"agent_on","message_id":"p","text_payload":"é","routing_status":"pending"}"#,
                #"{"message_type":"ERROR","sender_id":"agent_on","receiver_id":"Server","message_id":"e","routing_status":"x"}"#,
            ]
            try await vhost.publish(inputs.map { Array($0.utf8) }, to: "server_input_queue")
            try await eventually("all five are handled") {
                let c = simulator.messagePath?.counts
                return (c?.delivered ?? 0) + (c?.droppedUnknown ?? 0) + (c?.errorsReturned ?? 0) + (c?.republished ?? 0)
                    == 5
            }
            let counts = try #require(simulator.messagePath?.counts)
            #expect(counts.delivered == 2, "to the online receiver, and the ERROR to its sender")
            #expect(counts.errorsReturned == 1)
            #expect(counts.droppedUnknown == 1)
            #expect(counts.republished == 1)

            let delivered = await vhost.drain("agent_queue_agent_on").compactMap(\.message?.messageID)
            #expect(Set(delivered) == ["d", "e"])
            let back = await vhost.drain("broker_input_queue")
            #expect(back.count == 2)
            let bounce = try #require(back.first { $0.message?.messageType == "ERROR" })
            #expect(bounce.message?.receiverID == "agent_on")
            #expect(bounce.message?.senderID == "Server")
            #expect(bounce.message?[string: "routing_status"] == nil, "routed once by the broker")
            let republished = try #require(back.first { $0.message?.messageID == "p" })
            #expect(String(decoding: republished.body, as: UTF8.self).contains(#""text_payload": "\u00e9""#))
            #expect(republished.hops == 0 && republished.headers.isEmpty, "fresh properties")
            await simulator.stop()
        }

        /// As the real server (wire-protocol §6): it comes back empty, its agents reconnect one by
        /// one under new ids within the spread, and the fraction that never returns does not.
        @Test func aRestartComesBackEmptyAndAgentsReconnectUnderNewIDs() async throws {
            try TestRabbitMQ.requireReachable()
            let vhost = try await TestRabbitMQ.makeVirtualHost()
            defer { vhost.delete() }
            let simulator = AgentServerSimulator(rabbitmq: vhost.configuration)
            let names = ["First", "Second", "Third", "Fourth"]
            simulator.setAgents(
                names.enumerated().map {
                    AgentStatusRecord(agentID: "agent_\($0.offset)", agentName: $0.element, isOnline: true)
                })
            try await simulator.start()
            let port = simulator.webSocketPort
            try await simulator.restart(
                outage: .milliseconds(200), behaviour: .empty(reconnectSpread: .seconds(1), neverReturn: 0.5))
            #expect(simulator.webSocketPort == port, "back on the same port")
            #expect(simulator.agents.count <= 2, "back empty: only agents that reconnected since")
            try await eventually("two agents reconnect within the spread", timeout: .seconds(5)) {
                simulator.agents.count == 2
            }
            try await remains("half never return", for: .milliseconds(1200)) { simulator.agents.count == 2 }
            #expect(
                Set(simulator.agents.map(\.agentID)).isDisjoint(with: ["agent_0", "agent_1", "agent_2", "agent_3"]))
            #expect(Set(simulator.agents.map(\.agentName)).isSubset(of: Set(names)))
            #expect(simulator.status.restarts == 1)
            #expect(await vhost.drain("server_advertisement_queue").count == 2, "announced at each start")
            await simulator.stop()
        }

        @Test func theKindRestartBringsEveryAgentBackAtOnce() async throws {
            try TestRabbitMQ.requireReachable()
            let vhost = try await TestRabbitMQ.makeVirtualHost()
            defer { vhost.delete() }
            let simulator = AgentServerSimulator(rabbitmq: vhost.configuration)
            simulator.setAgents([AgentStatusRecord(agentID: "agent_first", agentName: "First", isOnline: true)])
            try await simulator.start()
            try await simulator.restart(outage: .milliseconds(200), behaviour: .sameAgents)
            #expect(simulator.agents.count == 1)
            #expect(simulator.agents.first?.agentID != "agent_first")
            #expect(simulator.agents.first?.agentName == "First")
            await simulator.stop()
        }
    }
}
