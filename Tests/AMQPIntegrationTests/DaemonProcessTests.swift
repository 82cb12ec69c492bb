import AMQPTestSupport
import AMQPTransport
import AgentServerSimulator
import BrokerCore
import BrokerTransports
import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

extension RabbitMQIntegration {
    /// `broker run` as ops run it: a real process, real RabbitMQ, the agent-server simulator.
    @Suite(.serialized, .timeLimit(.minutes(10))) struct DaemonProcessTests {
        struct Broker {
            let process: Process
            let adminPort: Int
            let queues: (input: String, output: String, dead: String)
            let rulesFile: URL
        }

        /// Starts `broker run` against the simulator with queues of its own.
        func startBroker(
            simulator: AgentServerSimulator, id: String, rulesFile: URL? = nil, extra: [String] = []
        ) throws -> Broker {
            let queues = ("run_\(id)_input", "run_\(id)_output", "run_\(id)_dead")
            let file =
                rulesFile ?? FileManager.default.temporaryDirectory.appendingPathComponent("run-rules-\(id).yaml")
            if rulesFile == nil {
                let text = try String(
                    contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8
                )
                .replacingOccurrences(of: "output: server_input_queue", with: "output: \(queues.1)")
                .replacingOccurrences(of: "dead_letter: broker_dead_letter", with: "dead_letter: \(queues.2)")
                try text.write(to: file, atomically: true, encoding: .utf8)
            }
            let port = Int.random(in: 20_000..<32_000)  // below the ephemeral port range
            let process = Process()
            process.executableURL = repositoryRoot.appendingPathComponent(".build/debug/broker")
            process.arguments =
                [
                    "run", "--rules", file.path, "--websocket-url", simulator.webSocketURL, "--input-queue", queues.0,
                    "--metadata-queue", "", "--admin-address", "127.0.0.1:\(port)", "--prefetch", "512",
                ] + extra
            process.environment = ["RABBITMQ_URL": TestRabbitMQ.url]
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            return Broker(process: process, adminPort: port, queues: queues, rulesFile: file)
        }

        func ready(_ broker: Broker) async -> Bool {
            await http("GET", "http://127.0.0.1:\(broker.adminPort)/readyz").status == 200
        }

        func fill(_ queue: String, _ bodies: [[UInt8]]) async throws {
            try await TestRabbitMQ.publish(bodies, to: queue, configuration: rabbit)
        }

        func drainQueue(_ queue: String) async -> [[UInt8]] {
            await TestRabbitMQ.drain(queue, configuration: rabbit).map(\.body)
        }

        func cleanUp(_ broker: Broker) {
            for queue in [broker.queues.input, broker.queues.output, broker.queues.dead] {
                try? AMQPAdmin.deleteQueue(queue, configuration: rabbit)
            }
            try? FileManager.default.removeItem(at: broker.rulesFile)
        }

        func agents(_ ids: [String]) -> [AgentStatusRecord] {
            ids.map { AgentStatusRecord(agentID: $0, agentName: $0, isOnline: true, lastSeen: "") }
        }

        @Test func sigtermWithHundredsInFlightDrainsAndExitsZero() async throws {
            _ = try AMQPAdmin.messageCount("broker_test_probe", configuration: rabbit)
            let simulator = AgentServerSimulator()
            simulator.setAgents(agents(["agent_a", "agent_b", "agent_c"]))
            try await simulator.start()
            let id = String(UUID().uuidString.prefix(8)).lowercased()
            let broker = try startBroker(simulator: simulator, id: id)
            defer { cleanUp(broker) }
            try await eventually("ready") { await ready(broker) }
            let total = 5_000
            try await fill(
                broker.queues.input,
                (0..<total).map { Array(#"{"message_type":"TEXT","sender_id":"agent_a","message_id":"t\#($0)"}"#.utf8) }
            )
            try await eventually("routing under way") {
                (try AMQPAdmin.messageCount(broker.queues.input, configuration: rabbit)) < total - 500
            }
            kill(broker.process.processIdentifier, SIGTERM)
            await broker.process.exited()
            #expect(broker.process.terminationReason == .exit && broker.process.terminationStatus == 0)
            let routed = await drainQueue(broker.queues.output)
            let left = try AMQPAdmin.messageCount(broker.queues.input, configuration: rabbit)
            let ids = Set(routed.compactMap { (try? Message(decoding: $0))?.messageID })
            #expect(ids.count == routed.count, "no duplicates after a clean drain")
            #expect(routed.count + left == total, "routed \(routed.count) + left \(left) must be all \(total)")
            await simulator.stop()
        }

        @Test func aReloadDeclaresTheQueuesTheNewRulesNameBeforeTheyGoLive() async throws {
            _ = try AMQPAdmin.messageCount("broker_test_probe", configuration: rabbit)
            let simulator = AgentServerSimulator()
            simulator.setAgents(agents(["agent_a"]))
            try await simulator.start()
            let id = String(UUID().uuidString.prefix(8)).lowercased()
            let broker = try startBroker(simulator: simulator, id: id)
            let renamed = broker.queues.dead + "_renamed"
            defer {
                cleanUp(broker)
                try? AMQPAdmin.deleteQueue(renamed, configuration: rabbit)
            }
            try await eventually("ready") { await ready(broker) }
            let rulesURL = "http://127.0.0.1:\(broker.adminPort)/rules"
            let hash: @Sendable () async -> String? = {
                let body = await http("GET", rulesURL).body
                let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
                return json?["hash"] as? String
            }
            let before = await hash()
            // A valid edit that renames the dead-letter queue to one nobody has declared.
            let text = try String(contentsOf: broker.rulesFile, encoding: .utf8)
                .replacingOccurrences(of: "dead_letter: \(broker.queues.dead)", with: "dead_letter: \(renamed)")
            try text.write(to: broker.rulesFile, atomically: true, encoding: .utf8)
            kill(broker.process.processIdentifier, SIGHUP)
            try await eventually("the new rules are in force") { await hash() != before }
            #expect(try AMQPAdmin.queueExists(renamed, configuration: rabbit), "declared before the rules went live")
            try await fill(broker.queues.input, [Array(#"{"message_type":"NOPE","message_id":"n1"}"#.utf8)])
            try await eventually("dead-lettered to the renamed queue", timeout: .seconds(15)) {
                (try? AMQPAdmin.messageCount(renamed, configuration: rabbit)) == 1
            }
            let readiness = await http("GET", "http://127.0.0.1:\(broker.adminPort)/readyz")
            #expect(readiness.status == 200, "\(readiness.body)")
            kill(broker.process.processIdentifier, SIGTERM)
            await broker.process.exited()
            await simulator.stop()
        }

        @Test func readyzFollowsRabbitMQAndTheStatusStreamAndAgentsGoingOfflineAreRoutedAround() async throws {
            _ = try AMQPAdmin.messageCount("broker_test_probe", configuration: rabbit)
            let simulator = AgentServerSimulator()
            simulator.setAgents(agents(["agent_a", "agent_b", "agent_c"]))
            try await simulator.start()
            let id = String(UUID().uuidString.prefix(8)).lowercased()
            // A stale registry is routed on for --max-staleness before readiness fails.
            let broker = try startBroker(simulator: simulator, id: id, extra: ["--max-staleness", "2"])
            // Never waits on a task thread for the broker to exit (a drain can take seconds).
            defer {
                if broker.process.isRunning { kill(broker.process.processIdentifier, SIGKILL) }
                cleanUp(broker)
            }
            try await eventually("ready") { await ready(broker) }

            // The status stream goes away (gRPC down): not ready; back: ready.
            await simulator.stopGRPC()
            try await eventually("not ready without the status stream", timeout: .seconds(20)) {
                !(await ready(broker))
            }
            try await simulator.startGRPC()
            await simulator.disconnectBrokers()
            try await eventually("ready again with the status stream") { await ready(broker) }

            // Agents going offline mid-run: messages go to those still online.
            simulator.setOnline("agent_b", false)
            simulator.setOnline("agent_c", false)
            try await eventually("the broker sees one agent online") {
                await http("GET", "http://127.0.0.1:\(broker.adminPort)/agents").body.contains(#""online":1,"#)
            }
            try await fill(
                broker.queues.input,
                (0..<200).map { Array(#"{"message_type":"TEXT","sender_id":"web_1","message_id":"o\#($0)"}"#.utf8) })
            let routed = await drainQueue(broker.queues.output)
            #expect(routed.count == 200)
            #expect(Set(routed.compactMap { (try? Message(decoding: $0))?.receiverID }) == ["agent_a"])

            // RabbitMQ goes away: not ready; back: ready.
            try await rabbitmqctl(["stop_app"])
            try await eventually("not ready without RabbitMQ") { !(await ready(broker)) }
            try await rabbitmqctl(["start_app"])
            try await rabbitmqctl(["-q", "await_startup"])
            try await eventually("ready again with RabbitMQ", timeout: .seconds(60)) { await ready(broker) }
            await simulator.stop()
        }

    }
}

extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct PortTakenTests {
        @Test func aTakenAdminPortFailsStartUpBeforeAnythingIsConsumed() async throws {
            try TestRabbitMQ.requireReachable()
            let vhost = try await TestRabbitMQ.makeVirtualHost()
            defer { vhost.delete() }
            try await vhost.publish((0..<50).map { text("p\($0)", from: "web_1") }, to: "broker_input_queue")
            let taken = try ListeningSocket()
            let broker = try ChildProcess(
                "broker",
                arguments: [
                    "run", "--rules", "rules/default.yaml", "--registry", "rules/registries/three-agents.yaml",
                    "--admin-address", "127.0.0.1:\(taken.port)", "--transport", vhost.url,
                ])
            let status = await broker.waitForExit(timeout: .seconds(20))
            #expect(status != nil && status != 0, "broker run kept running with its admin port taken\n\(broker.tail())")
            #expect(
                broker.output.contains("cannot listen on the admin address 127.0.0.1:\(taken.port)"), "\(broker.tail())"
            )
            #expect(try vhost.count("broker_input_queue") == 50, "nothing consumed")
        }

        @Test func aTakenSimulatorPortFailsItsStartUp() async throws {
            let taken = try ListeningSocket()
            for arguments in [
                ["--port", "\(taken.port)"], ["--grpc-port", "\(taken.port)", "--port", "0"],
                ["--control-port", "\(taken.port)", "--port", "0", "--grpc-port", "0"],
            ] {
                let simulator = try ChildProcess(
                    "simulator", executable: brokerDevExecutable,
                    arguments: ["simulate-server", "--grpc-port", "0"] + arguments)
                let status = await simulator.waitForExit(timeout: .seconds(20))
                #expect(status == 1, "simulate-server \(arguments) with the port taken\n\(simulator.tail())")
                #expect(simulator.output.contains("cannot start the simulator"), "\(simulator.tail())")
            }
        }
    }
}
