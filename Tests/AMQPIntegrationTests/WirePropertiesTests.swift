import AMQPTransport
import BrokerTransports
import Testing

/// Where the publisher puts the broker's bookkeeping and a `user_id` RabbitMQ would refuse
/// (no server needed).
@Suite(.timeLimit(.minutes(10))) struct WirePropertiesTests {
    let producer = MessageProperties(appID: "billing")

    @Test func theHopCountTakesAppIDOnlyWhenTheProducerSetNone() {
        let bare = AMQPProperties.wire(
            for: OutboundMessage(body: [], target: .queue("q"), hops: 3), user: "broker", impersonator: false)
        #expect(bare.appID == "broker-hops:3" && bare.headers.isEmpty)
        #expect(bare.deliveryMode == 2, "persistent unless the producer said otherwise")
        let stamped = AMQPProperties.wire(
            for: OutboundMessage(body: [], target: .queue("q"), properties: producer, hops: 3), user: "broker",
            impersonator: false)
        #expect(stamped.appID == "billing")
        #expect(stamped.headers[AMQPProperties.hopsHeader]?.text == "3")
        let transient = AMQPProperties.wire(
            for: OutboundMessage(body: [], target: .queue("q"), properties: MessageProperties(deliveryMode: 1)),
            user: "broker", impersonator: false)
        #expect(transient.deliveryMode == 1)
    }

    @Test func anotherUsersUserIDMovesToAHeaderUnlessTheBrokerMayImpersonate() {
        var properties = MessageProperties(userID: "alice")
        properties.headers[AMQPProperties.userIDHeader] = "forged"
        let message = OutboundMessage(body: [], target: .queue("q"), properties: properties)
        let moved = AMQPProperties.wire(for: message, user: "broker", impersonator: false)
        #expect(moved.userID == nil)
        #expect(moved.headers[AMQPProperties.userIDHeader]?.text == "alice")
        let own = AMQPProperties.wire(for: message, user: "alice", impersonator: false)
        #expect(own.userID == "alice" && own.headers[AMQPProperties.userIDHeader] == nil, "a forged header goes")
        let impersonated = AMQPProperties.wire(for: message, user: "broker", impersonator: true)
        #expect(impersonated.userID == "alice" && impersonated.headers.isEmpty)
    }

    @Test func everyPropertyAndHeaderTypeSurvivesEncodingAndDecoding() {
        let everything = RabbitMQIntegration.DaemonProcessTests.everything(userID: "broker")
        let decoded = PropertyEncoder().roundTrip(
            OutboundMessage(body: [], target: .queue("q"), properties: everything, hops: 2), user: "broker")
        var expected = everything
        expected.headers[AMQPProperties.hopsHeader] = "2"
        #expect(decoded.hops == 2)
        #expect(RabbitMQIntegration.DaemonProcessTests.differences(decoded.properties, expected) == [])
    }
}
