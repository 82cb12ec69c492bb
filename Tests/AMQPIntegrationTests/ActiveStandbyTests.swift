import AMQPTestSupport
import AMQPTransport
import BrokerCore
import Foundation
import TestSupport
import Testing

/// Two `broker run` replicas on a single-active-consumer quorum input (`--queue-type quorum
/// --single-active-consumer`): one routes, the other stands by and takes over when the active one
/// is SIGKILLed; input order is kept in the output.
extension RabbitMQIntegration {
    @Suite(.serialized, .timeLimit(.minutes(10))) struct ActiveStandbyTests {
        func replica(_ name: String, _ queues: TestQueues, rules: URL) throws -> ChildProcess {
            try ChildProcess(
                name,
                arguments: [
                    "run", "--rules", rules.path, "--registry",
                    repositoryRoot.appendingPathComponent("rules/registries/three-agents.yaml").path,
                    "--input-queue", queues.input, "--metadata-queue", "", "--advertisement-queue", "",
                    "--admin-address", "127.0.0.1:0", "--queue-type", "quorum", "--single-active-consumer",
                    "--prefetch", "64",
                ], environment: ["RABBITMQ_URL": TestRabbitMQ.url])
        }

        func count(_ queue: String) -> Int {
            var quorum = rabbit
            quorum.queues = QueueSettings(kind: .quorum)
            return (try? AMQPAdmin.messageCount(queue, configuration: quorum)) ?? 0
        }

        @Test
        func theStandbyTakesOverInOrderWhenTheActiveReplicaDies() async throws {
            try requireRabbitMQ()
            let queues = TestQueues()
            defer { queues.cleanUp() }
            let rules = FileManager.default.temporaryDirectory.appendingPathComponent("standby-\(queues.id).yaml")
            defer { try? FileManager.default.removeItem(at: rules) }
            try queues.defaultRulesText().write(to: rules, atomically: true, encoding: .utf8)

            let active = try replica("active", queues, rules: rules)
            try await eventually("the input is declared", timeout: .seconds(60)) {
                (try? AMQPAdmin.queueExists(queues.input, configuration: rabbit)) == true
            }
            let standby = try replica("standby", queues, rules: rules)
            defer {
                active.send(SIGKILL)
                standby.send(SIGKILL)
            }
            try await eventually("both replicas are consumers", timeout: .seconds(60)) {
                try await runCommand(
                    "/bin/bash",
                    [
                        repositoryRoot.appendingPathComponent("scripts/rabbitmq.sh").path, "ctl", "list_consumers",
                        "-q", "-p", rabbit.virtualHost, "queue_name",
                    ]
                ).output.split(separator: "\n").filter { $0 == queues.input }.count == 2
            }
            let total = 2_000
            let bodies = (0..<total).map {
                Array(#"{"message_type":"TEXT","sender_id":"agent_a","message_id":"s\#($0)"}"#.utf8)
            }
            var quorum = rabbit
            quorum.queues = QueueSettings(kind: .quorum)
            // In order (one at a time, so it lasts seconds), into the queue the replicas declared,
            // while the active replica routes and dies.
            let publishing = Task {
                try await TestRabbitMQ.publish(
                    bodies, to: queues.input, configuration: quorum, inFlight: 1, declaring: false)
            }
            // Generous waits: this runs beside every other suite, two debug builds starting under load.
            try await eventually("the active replica routes", timeout: .seconds(60)) { count(queues.output) >= 300 }
            active.send(SIGKILL)
            let killed = ContinuousClock.now
            let before = count(queues.output)
            try await eventually("the standby routes", timeout: .seconds(60), every: .milliseconds(5)) {
                count(queues.output) > before + 64
            }
            let takeover = ContinuousClock.now - killed
            try await publishing.value
            try await eventually("everything is routed", timeout: .seconds(60)) {
                count(queues.output) + count(queues.deadLetter) >= total
            }
            #expect(await standby.stop() == 0, "\(standby.tail())")
            let ids = await TestRabbitMQ.drain(queues.output, configuration: quorum).compactMap(messageID)
            var firsts: [Int] = []
            var seen = Set<String>()
            for id in ids where seen.insert(id).inserted { firsts.append(Int(id.dropFirst())!) }
            #expect(Set(ids).count == total, "lost \(total - Set(ids).count)")
            #expect(firsts == firsts.sorted(), "input order is kept")
            print(
                "active/standby: takeover within \(takeover) (incl. 64 messages routed), \(ids.count - total) duplicates"
            )
        }
    }
}
