/// Which deliveries of one channel are unsettled, so acknowledgements go out together: when
/// the oldest unsettled deliveries are all acknowledged at once, one `basic.ack` with
/// `multiple` settles them (RabbitMQ counts an ack per frame, and so does the kernel: a send
/// each); acknowledgements that leave an older delivery unsettled go out one by one, at once.
///
/// Delivery tags of a channel grow by one per delivery, in the order they are delivered.
package struct Acknowledgements {
    /// Tags delivered and not yet acknowledged or rejected on the wire, oldest first, from
    /// `head` on.
    private var unsettled: [UInt64] = []
    private var head = 0
    /// Tags after the oldest unsettled one that are settled on the wire already.
    private var settledOutOfOrder: Set<UInt64> = []

    package init() {}

    /// A delivery arrived.
    package mutating func delivered(_ tag: UInt64) { unsettled.append(tag) }

    /// `tag` was settled on the wire by the caller (a reject).
    package mutating func settled(_ tag: UInt64) {
        settledOutOfOrder.insert(tag)
        advance()
    }

    /// Which acks to send for `tags`: one ack with `multiple` up to `upTo` (covering the oldest
    /// unsettled deliveries), and the rest one by one.
    package mutating func acknowledge(_ tags: [UInt64]) -> (upTo: UInt64?, single: [UInt64]) {
        guard !tags.isEmpty else { return (nil, []) }
        var waiting = Set(tags)
        var upTo: UInt64?
        while head < unsettled.count {
            let tag = unsettled[head]
            if waiting.remove(tag) != nil {
                upTo = tag
            } else if settledOutOfOrder.remove(tag) == nil {
                break
            }
            head += 1
        }
        let single = waiting.sorted()
        for tag in single { settledOutOfOrder.insert(tag) }
        compact()
        return (upTo, single)
    }

    /// Moves past the settled oldest deliveries.
    private mutating func advance() {
        while head < unsettled.count, settledOutOfOrder.remove(unsettled[head]) != nil { head += 1 }
        compact()
    }

    private mutating func compact() {
        if head == unsettled.count {
            unsettled.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 4096 {
            unsettled.removeFirst(head)
            head = 0
        }
    }
}
