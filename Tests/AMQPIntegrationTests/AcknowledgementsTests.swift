import AMQPTransport
import Testing

/// Acknowledgements go out together when the oldest deliveries are settled together, and one
/// by one otherwise: never an ack RabbitMQ would refuse (a tag settled twice), never one that
/// settles a delivery still being routed.
@Suite struct AcknowledgementsTests {
    @Test func aBatchAcknowledgedInOrderTakesOneAckWithMultiple() {
        var acks = Acknowledgements()
        for tag in UInt64(1)...8 { acks.delivered(tag) }
        let (upTo, single) = acks.acknowledge(Array(1...8))
        #expect(upTo == 8)
        #expect(single.isEmpty)
    }

    @Test func anAckThatWouldCoverAMessageStillBeingRoutedGoesOutAlone() {
        var acks = Acknowledgements()
        for tag in UInt64(1)...5 { acks.delivered(tag) }
        // 1 is still being routed: 2 and 3 are acknowledged one by one.
        var (upTo, single) = acks.acknowledge([3, 2])
        #expect(upTo == nil)
        #expect(single == [2, 3])
        // 1 done: a multiple ack up to 1 covers nothing else (2 and 3 were acked already).
        (upTo, single) = acks.acknowledge([1])
        #expect(upTo == 1)
        #expect(single.isEmpty)
        // 4 and 5 together: one ack up to 5.
        (upTo, single) = acks.acknowledge([5, 4])
        #expect(upTo == 5)
        #expect(single.isEmpty)
    }

    @Test func aRejectedDeliveryDoesNotHoldBackTheAcksAfterIt() {
        var acks = Acknowledgements()
        for tag in UInt64(1)...4 { acks.delivered(tag) }
        acks.settled(2)
        let (upTo, single) = acks.acknowledge([1, 3])
        #expect(upTo == 3)
        #expect(single.isEmpty)
        // 4 is still unsettled: nothing covers it.
        #expect(acks.acknowledge([]).upTo == nil)
        #expect(acks.acknowledge([4]).upTo == 4)
    }

    @Test func aRejectOfTheOldestLetsTheAcksBehindItGoTogether() {
        var acks = Acknowledgements()
        for tag in UInt64(10)...13 { acks.delivered(tag) }
        var (upTo, single) = acks.acknowledge([11, 12])
        #expect(upTo == nil && single == [11, 12])
        acks.settled(10)
        (upTo, single) = acks.acknowledge([13])
        #expect(upTo == 13)
        #expect(single.isEmpty)
    }
}
