import BrokerCore
import BrokerTransports
import Logging

/// Consumes `server_advertisement_queue`, as the original broker did: the agent server publishes
/// `SERVER_AVAILABLE` (with its `websocket_url`) there each time it starts, and the broker takes
/// it as the signal to reconnect at once instead of waiting out a retry delay.
///
/// A `websocket_url` other than the one in use is followed only when configured to (the switch
/// happens at the next connection). Every message is acknowledged, so the queue stays empty.
/// With several broker replicas only one receives each announcement; the others are back on
/// their own within one short retry delay.
struct ServerAdvertisementHandler: Sendable {
    let link: any ServerLink
    let follow: Bool
    let logger = Logger(label: "broker.server-advertisements")

    func run(_ input: some InboundSource) async {
        for await message in input.messages {
            handle(message.body)
            message.settlement.ack()
        }
    }

    func handle(_ body: [UInt8]) {
        guard let message = try? Message(decoding: body, maximumSize: 1 << 16) else {
            logger.warning("ignoring an advertisement that is not a JSON object")
            return
        }
        guard message.messageType == "SERVER_AVAILABLE" else {
            logger.info("ignoring an advertisement", metadata: ["message_type": "\(message.messageType ?? "none")"])
            return
        }
        let advertised = message[string: "websocket_url"]
        if let advertised, advertised != link.url {
            guard follow else {
                logger.notice(
                    "the agent server advertises another URL; not following it (enable --follow-server-url)",
                    metadata: [
                        "advertised": "\(redactingPassword(in: advertised))",
                        "in_use": "\(redactingPassword(in: link.url))",
                    ])
                link.reconnectNow(reason: "SERVER_AVAILABLE")
                return
            }
            link.redirect(to: advertised)
            return
        }
        link.reconnectNow(reason: "SERVER_AVAILABLE")
    }
}
