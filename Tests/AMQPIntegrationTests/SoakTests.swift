import AMQPTestSupport
import AMQPTransport
import BrokerCore
import BrokerTransports
import Foundation
import TestSupport
import Testing

extension RabbitMQIntegration {
    /// The broker as ops run it, through everything at once: 50,000 messages, a churning agent
    /// server, 50 SIGHUP reloads (every fifth invalid), RabbitMQ stopped and started, the input
    /// queue deleted, a memory alarm, and one poison message of each kind. At the end every
    /// input is accounted for: routed + dead-lettered + left = sent, duplicates reported.
    @Suite(.serialized, .timeLimit(.minutes(10))) struct SoakTests {
        static let total = 50_000

        /// The default rules with outputs of the test's own (the simulator's message path
        /// does not consume them, so every copy can be counted).
        static func rules() throws -> String {
            try String(contentsOf: repositoryRoot.appendingPathComponent("rules/default.yaml"), encoding: .utf8)
                .replacingOccurrences(of: "output: server_input_queue", with: "output: soak_output")
                .replacingOccurrences(of: "dead_letter: broker_dead_letter", with: "dead_letter: soak_dead")
        }

        /// One poison message of each kind the adversarial pass found: not JSON, a field so long
        /// that the dead-letter reason quoting it would not fit a frame, headers that leave no
        /// room for the broker's, and a hop count that says it has been routed in a cycle.
        static let poison: [(body: [UInt8], headers: Headers)] = [
            (Array("{not json".utf8), [:]),
            (
                Array(
                    #"{"message_type":"\#(String(repeating: "P", count: 200_000))","message_id":"poison-type"}"#.utf8),
                [:]
            ),
            (
                Array(#"{"message_type":"NOPE","message_id":"poison-headers"}"#.utf8),
                ["x-trace": HeaderValue(String(repeating: "t", count: 130_950))]
            ),
            (
                Array(#"{"message_type":"TEXT","sender_id":"web_1","message_id":"poison-hops"}"#.utf8),
                ["x-broker-hops": "99"]
            ),
        ]

        static func body(_ index: Int) -> [UInt8] {
            Array(
                #"{"message_type":"TEXT","sender_id":"web_1","message_id":"soak-\#(index)","text_payload":"hello"}"#
                    .utf8)
        }

        @Test func fiftyThousandMessagesThroughEveryFaultAtOnceLoseNothing() async throws {
            let rulesText = try Self.rules()
            try await withWholeSystem(agents: 20, rules: rulesText, churn: "5/s") { system in
                let vhost = system.vhost
                defer {
                    try? TestRabbitMQ.ctl(["set_vm_memory_high_watermark", "0.4"])
                    try? TestRabbitMQ.ctl(["start_app"])
                }
                try system.startBroker(["--metadata-queue", "", "--drain-timeout", "20"])
                try await eventually("the broker is ready", timeout: .seconds(30)) { await system.brokerReady() }
                let started = ContinuousClock.now
                let broker = try #require(system.broker)

                // 50 reloads through the whole run, every fifth one an invalid edit.
                let reloads = Task {
                    for reload in 1...50 {
                        let text =
                            reload % 5 == 0
                            ? "version: 1\nroutes: [ {name: broken" : rulesText + "\n# reload \(reload)\n"
                        try? text.write(to: system.rulesFile, atomically: true, encoding: .utf8)
                        broker.send(SIGHUP)
                        try? await pace(.milliseconds(400))
                    }
                    try? rulesText.write(to: system.rulesFile, atomically: true, encoding: .utf8)
                    broker.send(SIGHUP)
                }

                // Phase 1: half the messages and the poison, then RabbitMQ stops and starts.
                let half = Self.total / 2
                try await vhost.publish((0..<half).map(Self.body), to: "broker_input_queue")
                for message in Self.poison {
                    try await TestRabbitMQ.publish(
                        [message.body], to: "broker_input_queue",
                        properties: MessageProperties(headers: message.headers),
                        configuration: vhost.configuration)
                }
                try await TestRabbitMQ.control(["stop_app"])
                try await pace(.seconds(2))  // RabbitMQ down
                try await TestRabbitMQ.control(["start_app"])
                try await TestRabbitMQ.control(["await_startup"])
                try await eventually("phase 1 is consumed after the restart", timeout: .seconds(120)) {
                    (try? vhost.count("broker_input_queue")) == 0
                }

                // The input queue is deleted (empty) and must be consumed again once re-created.
                try AMQPAdmin.deleteQueue("broker_input_queue", configuration: vhost.configuration)
                try await eventually("the broker declares its input again", timeout: .seconds(30)) {
                    (try? AMQPAdmin.queueExists("broker_input_queue", configuration: vhost.configuration)) == true
                }

                // Phase 2: the other half, with a memory alarm while it is routed.
                try await vhost.publish((half..<Self.total).map(Self.body), to: "broker_input_queue")
                try await TestRabbitMQ.control(["set_vm_memory_high_watermark", "0.0000001"])
                try await pace(.seconds(3))  // the memory alarm in force
                try await TestRabbitMQ.control(["set_vm_memory_high_watermark", "0.4"])
                await reloads.value

                let expected = Self.total + Self.poison.count
                try await eventually("everything is routed or dead-lettered", timeout: .seconds(180)) {
                    let done = (try? vhost.count("soak_output")) ?? 0
                    let dead = (try? vhost.count("soak_dead")) ?? 0
                    return done + dead >= expected && (try? vhost.count("broker_input_queue")) == 0
                }
                let exit = await broker.stop(timeout: .seconds(40))
                #expect(exit == 0, "a clean drain after all that")
                let elapsed = ContinuousClock.now - started

                let routed = await vhost.drain("soak_output")
                let dead = await vhost.drain("soak_dead")
                // Redeliveries the broker had not taken yet when it stopped stay in the input.
                let left = await vhost.drain("broker_input_queue")
                let ids = routed.compactMap(messageID) + dead.compactMap(messageID) + left.compactMap(messageID)
                let unique = Set(ids)
                let missing = (0..<Self.total).filter { !unique.contains("soak-\($0)") }
                let duplicates = ids.count - unique.count
                print(
                    """
                    soak: \(Self.total) messages + \(Self.poison.count) poison in \(elapsed): routed \(routed.count), \
                    dead-lettered \(dead.count), left \(left.count), duplicates \(duplicates), missing \(missing.count)
                    """)
                #expect(missing.isEmpty, "lost: \(missing.prefix(10))")
                #expect(routed.count + dead.count + left.count - duplicates == expected)
                let codes = Set(dead.compactMap { $0.headers["x-broker-reason-code"]?.text })
                #expect(codes.isSuperset(of: ["invalid_json", "no_route", "routing_cycle"]), "\(codes)")
                #expect(dead.allSatisfy { ($0.headers["x-broker-reason"]?.text?.utf8.count ?? 0) <= 1024 })
            }
        }
    }
}
