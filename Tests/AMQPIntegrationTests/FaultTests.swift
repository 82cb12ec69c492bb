import AMQPTestSupport
import AMQPTransport
import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation
import RoutingRules
import TestSupport
import Testing

/// Faults mid-run: nothing is lost, duplicates are allowed and counted.
extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct FaultTests {
        static let count = 10_000

        func bodies() -> [[UInt8]] {
            (0..<Self.count).map {
                Array(#"{"message_type":"TEXT","sender_id":"agent_a","message_id":"m\#($0)"}"#.utf8)
            }
        }

        /// Waits until the input queue has stayed empty for a while (everything consumed and settled).
        func waitUntilDrained(_ queue: String, timeout: Duration = .seconds(120)) async throws {
            let deadline = ContinuousClock.now + timeout
            var emptyReadings = 0
            while emptyReadings < 4 {
                try #require(ContinuousClock.now < deadline, "input queue \(queue) did not drain")
                try? await Task.sleep(for: .milliseconds(500))
                let count = (try? AMQPAdmin.messageCount(queue, configuration: rabbit)) ?? -1
                emptyReadings = count == 0 ? emptyReadings + 1 : 0
            }
        }

        /// Every input id is in the output; returns how many duplicates there were.
        func account(_ queues: TestQueues) async -> (missing: Int, duplicates: Int) {
            let output = await collect(queues.output)
            let dead = await collect(queues.deadLetter)
            let ids = (output + dead).compactMap(messageID)
            let distinct = Set(ids)
            let missing = (0..<Self.count).filter { !distinct.contains("m\($0)") }.count
            return (missing, ids.count - distinct.count)
        }

        @Test func rabbitMQRestartedMidRunLosesNothing() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            try await fill(queues.input, with: bodies())
            let consumer = AMQPConsumer(configuration: rabbit, queue: queues.input, prefetch: 64)
            let publisher = AMQPPublisher(configuration: rabbit, declareQueues: [queues.output, queues.deadLetter])
            let router = MessageRouter(
                rules: RuleSetHolder(try queues.defaultRules()), registry: threeOnlineAgents(), output: publisher)
            let task = Task { await router.run(consumer) }
            try await eventually("2,000 are settled", timeout: .seconds(60), every: .milliseconds(5)) {
                router.statistics.settled >= 2_000
            }
            try await rabbitmqctl(["stop_app"])
            try await pace(.seconds(1))  // RabbitMQ down for a second
            try await rabbitmqctl(["start_app"])
            try await rabbitmqctl(["-q", "await_startup"])
            try await waitUntilDrained(queues.input)
            consumer.beginGracefulShutdown()
            await task.value
            publisher.beginGracefulShutdown()
            let (missing, duplicates) = await account(queues)
            #expect(missing == 0)
            print("RabbitMQ restart: \(duplicates) duplicates, \(router.statistics.snapshot.requeued) requeued")
        }

        @Test func brokerKilledMidRunAndRestartedLosesNothing() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let rulesFile = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(queues.id).yaml")
            let text = try String(
                contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8
            )
            .replacingOccurrences(of: "output: server_input_queue", with: "output: \(queues.output)")
            .replacingOccurrences(of: "dead_letter: broker_dead_letter", with: "dead_letter: \(queues.deadLetter)")
            try text.write(to: rulesFile, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: rulesFile) }
            try await fill(queues.input, with: bodies())

            func startBroker() throws -> Process {
                let process = Process()
                process.executableURL = repositoryRoot.appendingPathComponent(".build/debug/broker")
                process.arguments = [
                    "run", "--rules", rulesFile.path, "--registry", "rules/registries/three-agents.yaml",
                    "--admin-address", "127.0.0.1:0",
                    "--input-queue", queues.input, "--metadata-queue", "", "--prefetch", "64",
                ]
                process.currentDirectoryURL = repositoryRoot
                process.environment = ["RABBITMQ_URL": TestRabbitMQ.url]
                process.standardError = FileHandle.nullDevice
                try process.run()
                return process
            }

            let first = try startBroker()
            try await eventually("the broker made progress: 3,000 taken", timeout: .seconds(60)) {
                try AMQPAdmin.messageCount(queues.input, configuration: rabbit) <= Self.count - 3_000
            }
            kill(first.processIdentifier, SIGKILL)
            await first.exited()
            #expect(first.terminationReason == .uncaughtSignal)

            let second = try startBroker()
            try await waitUntilDrained(queues.input)
            kill(second.processIdentifier, SIGTERM)
            await second.exited()
            #expect(second.terminationStatus == 0)
            let (missing, duplicates) = await account(queues)
            #expect(missing == 0)
            print("SIGKILL: \(duplicates) duplicates")
        }
    }
}
