import AMQPTestSupport
import AMQPTransport
import BrokerTransports
import Foundation
import TestSupport
import Testing

extension RabbitMQIntegration {
    /// The floor `broker-dev bench-floor` measures the broker against must itself be a correct
    /// relay, or the ratio would flatter the broker: every message arrives once, body and
    /// properties unchanged, and the input is left empty (acknowledged after the confirms).
    @Suite(.serialized, .timeLimit(.minutes(10))) struct FloorRelayTests {
        @Test func theCRelayMovesEveryMessageOnceUnchanged() async throws {
            try requireRabbitMQ()
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("c-relay-\(uniqueID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let relay = directory.appendingPathComponent("c-relay").path
            // As `make c-relay` builds it: the system's compiler, or the toolchain's clang.
            let build = try await runCommand(
                "/bin/bash",
                [
                    "-c",
                    "set -e; cc=$(command -v cc || command -v clang); \"$cc\" -O2 -Wall -Wextra -Werror -o '\(relay)' Benchmarks/Floor/c-relay.c -lrabbitmq",
                ])
            try #require(build.status == 0, "\(build.output)")

            let queues = TestQueues()
            defer { queues.cleanUp() }
            try AMQPAdmin.declareQueues([queues.input, queues.output], configuration: rabbit)
            let properties = MessageProperties(
                contentType: "application/json", messageID: "floor", correlationID: "c-1", timestamp: 1_764_600_000,
                headers: ["x-trace-id": "4bf92f3577b34da6", "x-attempt": .int32(2)],
                native: AMQPProperties(deliveryMode: 2, priority: 3, type: "chat.text", appID: "producer"))
            // More than a batch (prefetch 64), and not a multiple of it.
            let bodies = (0..<1_000).map { Array(#"{"message_id":"m\#($0)"}"#.utf8) }
            try await TestRabbitMQ.publish(bodies, to: queues.input, properties: properties, configuration: rabbit)

            let run = try await runCommand(relay, [rabbit.url, queues.input, queues.output, "1000", "64"])
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.hasPrefix("c-relay: 1000 messages in "), "\(run.output)")
            #expect(run.output.contains(" us per message"), "\(run.output)")

            let relayed = await collect(queues.output)
            #expect(relayed.count == 1_000)
            let missing = Set(bodies).subtracting(relayed.map(\.body))
            #expect(missing.isEmpty, "\(missing.count) messages missing")
            let changed = relayed.filter { $0.properties != properties }
            #expect(changed.isEmpty, "properties changed: \(changed.first.map { "\($0.properties)" } ?? "")")
            #expect(try AMQPAdmin.messageCount(queues.input, configuration: rabbit) == 0, "all acknowledged")
        }

    }
}
