import AMQPTransport
import BrokerTransports
import Testing

/// Where the publisher puts the broker's bookkeeping and a `user_id` RabbitMQ would refuse
/// (no server needed).
@Suite(.timeLimit(.minutes(10))) struct WirePropertiesTests {
    let producer = MessageProperties(native: AMQPProperties(appID: "billing"))

    @Test func theHopCountTakesAppIDOnlyWhenTheProducerSetNone() {
        let bare = AMQPPropertyMapping.wire(
            for: OutboundMessage(body: [], target: .queue("q"), hops: 3), user: "broker", impersonator: false)
        #expect(bare.amqp.appID == "broker-hops:3" && bare.headers.isEmpty)
        #expect(bare.amqp.deliveryMode == 2, "persistent unless the producer said otherwise")
        let stamped = AMQPPropertyMapping.wire(
            for: OutboundMessage(body: [], target: .queue("q"), properties: producer, hops: 3), user: "broker",
            impersonator: false)
        #expect(stamped.amqp.appID == "billing")
        #expect(stamped.headers[AMQPPropertyMapping.hopsHeader]?.text == "3")
        let transient = AMQPPropertyMapping.wire(
            for: OutboundMessage(
                body: [], target: .queue("q"), properties: MessageProperties(native: AMQPProperties(deliveryMode: 1))),
            user: "broker", impersonator: false)
        #expect(transient.amqp.deliveryMode == 1)
    }

    @Test func anotherUsersUserIDMovesToAHeaderUnlessTheBrokerMayImpersonate() {
        var properties = MessageProperties(native: AMQPProperties(userID: "alice"))
        properties.headers[AMQPPropertyMapping.userIDHeader] = "forged"
        let message = OutboundMessage(body: [], target: .queue("q"), properties: properties)
        let moved = AMQPPropertyMapping.wire(for: message, user: "broker", impersonator: false)
        #expect(moved.amqp.userID == nil)
        #expect(moved.headers[AMQPPropertyMapping.userIDHeader]?.text == "alice")
        let own = AMQPPropertyMapping.wire(for: message, user: "alice", impersonator: false)
        #expect(
            own.amqp.userID == "alice" && own.headers[AMQPPropertyMapping.userIDHeader] == nil, "a forged header goes")
        let impersonated = AMQPPropertyMapping.wire(for: message, user: "broker", impersonator: true)
        #expect(impersonated.amqp.userID == "alice" && impersonated.headers.isEmpty)
    }

    @Test func everyPropertyAndHeaderTypeSurvivesEncodingAndDecoding() {
        let everything = RabbitMQIntegration.DaemonProcessTests.everything(userID: "broker")
        let decoded = PropertyEncoder().roundTrip(
            OutboundMessage(body: [], target: .queue("q"), properties: everything, hops: 2), user: "broker")
        var expected = everything
        expected.headers[AMQPPropertyMapping.hopsHeader] = "2"
        #expect(decoded.hops == 2)
        #expect(RabbitMQIntegration.DaemonProcessTests.differences(decoded.properties, expected) == [])
    }
}
