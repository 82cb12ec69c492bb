import AMQPTestSupport
import AMQPTransport
import AgentServerSimulator
import BrokerTransports
import Foundation
import TestSupport
import Testing

/// What producers put in AMQP properties survives the trip through `broker run` (issue: "AMQP
/// properties are dropped on routed and dead-lettered copies").
extension RabbitMQIntegration.DaemonProcessTests {
    /// Every basic property, and a header of every type RabbitMQ carries, with NUL bytes in
    /// names and values, nested tables and arrays.
    static func everything(userID: String) -> MessageProperties {
        let nested: Headers = [
            "depth": .int32(2), "list": .array([.longString([0x61, 0x00, 0x62]), .table(["deep": .boolean(false)])]),
        ]
        let headers: Headers = [
            "x-bool": .boolean(true), "x-int8": .int8(-8), "x-uint8": .uint8(200), "x-int16": .int16(-16_000),
            "x-uint16": .uint16(60_000), "x-int32": .int32(-2_000_000_000), "x-uint32": .uint32(4_000_000_000),
            "x-int64": .int64(-9_000_000_000_000), "x-float": .float(1.5), "x-double": .double(-2.25e100),
            "x-decimal": .decimal(scale: 2, value: 12_345), "x-string": .longString(Array("a\u{0}b ✓".utf8)),
            "x-bytes": .bytes([0x00, 0xFF, 0x10, 0x00]), "x-timestamp": .timestamp(1_764_600_000),
            "x-array": .array([.int32(1), .longString(Array("two".utf8)), .array([.void]), .double(3.5)]),
            "x-table": .table(nested), "x-void": .void, "x-nul\u{0}name": .longString(Array("v\u{0}".utf8)),
            "x-trace-id": "4bf92f3577b34da6",
        ]
        return MessageProperties(
            contentType: "application/json; charset=utf-8", messageID: "amqp-message-id-1",
            correlationID: "corr\u{0}elation-1", replyTo: "replies.client-7", timestamp: 1_764_600_123,
            headers: headers,
            native: AMQPProperties(
                deliveryMode: 2, priority: 7, contentEncoding: "identity", expiration: "600000", type: "chat.text",
                userID: userID, appID: "producer-app", clusterID: nil))
    }

    /// Names the properties of `copy` that differ from `expected`, with both values.
    static func differences(_ copy: MessageProperties, _ expected: MessageProperties) -> [String] {
        var found: [String] = []
        for (mine, theirs) in zip(Mirror(reflecting: copy).children, Mirror(reflecting: expected).children)
        where mine.label == "headers" || mine.label == "native" || "\(mine.value)" != "\(theirs.value)" {
            if mine.label == "native" {
                // The AMQP-only properties, compared whole and shown by name.
                if copy.amqp != expected.amqp { found.append("amqp: \(copy.amqp) instead of \(expected.amqp)") }
                continue
            }
            guard mine.label == "headers" else {
                found.append("\(mine.label ?? "?"): \(mine.value) instead of \(theirs.value)")
                continue
            }
            let names = Set(copy.headers.names).union(expected.headers.names).sorted()
            for name in names where copy.headers[name] != expected.headers[name] {
                found.append(
                    "header \(name.debugDescription): \(copy.headers[name].map { "\($0)" } ?? "missing") instead of \(expected.headers[name].map { "\($0)" } ?? "missing")"
                )
            }
        }
        return found
    }

    @Test func everyPropertyAndHeaderSurvivesOnRoutedAndDeadLetteredCopies() async throws {
        _ = try AMQPAdmin.messageCount("broker_test_probe", configuration: rabbit)
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(["agent_a", "agent_b"]))
        try await simulator.start()
        let id = String(UUID().uuidString.prefix(8)).lowercased()
        // A producer with a RabbitMQ user of its own: its user_id is not the broker's.
        let producerUser = "fidelity_\(id)"
        try await rabbitmqctl(["-q", "add_user", producerUser, "secret"])
        try await rabbitmqctl(["-q", "set_permissions", "-p", "/", producerUser, ".*", ".*", ".*"])
        let broker = try startBroker(simulator: simulator, id: id)
        defer {
            if broker.process.isRunning { kill(broker.process.processIdentifier, SIGKILL) }
            cleanUp(broker)
            try? rabbitmqctl(["-q", "delete_user", producerUser])
        }
        try await eventually("ready") { await ready(broker) }

        let routable = Array(
            #"{"message_type":"TEXT","sender_id":"agent_a","receiver_id":"agent_b","message_id":"f1"}"#.utf8)
        let unroutable = Array(#"{"message_type":"NOPE","message_id":"f2"}"#.utf8)
        // As the broker's own user (guest): user_id can stay a property.
        let asBrokerUser = Self.everything(userID: rabbit.user)
        try await TestRabbitMQ.publish(
            [routable, unroutable], to: broker.queues.input, properties: asBrokerUser, configuration: rabbit)
        // As another user, with a forged x-broker-user-id: RabbitMQ validated the property, not the header.
        var other = rabbit
        other.user = producerUser
        other.password = "secret"
        var asOtherUser = Self.everything(userID: producerUser)
        asOtherUser.headers[AMQPPropertyMapping.userIDHeader] = "forged-admin"
        try await TestRabbitMQ.publish(
            [routable], to: broker.queues.input, properties: asOtherUser, configuration: other)

        try await eventually("routed and dead-lettered", timeout: .seconds(20)) {
            let output = try AMQPAdmin.messageCount(broker.queues.output, configuration: rabbit)
            let dead = try AMQPAdmin.messageCount(broker.queues.dead, configuration: rabbit)
            return output == 2 && dead == 1
        }
        let routed = await TestRabbitMQ.drain(broker.queues.output, configuration: rabbit)
        let dead = await TestRabbitMQ.drain(broker.queues.dead, configuration: rabbit)
        try #require(routed.count == 2 && dead.count == 1)

        // The routed copy: everything, plus the hop count in a header (the producer's app_id stays).
        var expectedRouted = asBrokerUser
        expectedRouted.headers[AMQPPropertyMapping.hopsHeader] = "1"
        let mine = try #require(routed.first { $0.properties.amqp.userID != nil })
        #expect(Self.differences(mine.properties, expectedRouted) == [])
        #expect(mine.hops == 1)

        // Another user's user_id moves to the header; the forged one is gone.
        var expectedOther = Self.everything(userID: producerUser)
        expectedOther.amqp.userID = nil
        expectedOther.headers[AMQPPropertyMapping.userIDHeader] = HeaderValue(producerUser)
        expectedOther.headers[AMQPPropertyMapping.hopsHeader] = "1"
        let theirs = try #require(routed.first { $0.properties.amqp.userID == nil })
        #expect(Self.differences(theirs.properties, expectedOther) == [])

        // The dead letter: the original body and properties, plus the broker's explanation.
        let letter = try #require(dead.first)
        #expect(letter.body == unroutable)
        var expectedDead = asBrokerUser
        for name in ["x-broker-reason", "x-broker-reason-code", "x-original-queue", "x-broker-rule-set"] {
            let value: HeaderValue = try #require(letter.headers[name], "\(name) is set")
            expectedDead.headers[name] = value
        }
        #expect(letter.headers["x-broker-reason"]?.text?.contains("NOPE") == true)
        #expect(Self.differences(letter.properties, expectedDead) == [])

        kill(broker.process.processIdentifier, SIGTERM)
        await broker.process.exited()
        await simulator.stop()
    }
}
