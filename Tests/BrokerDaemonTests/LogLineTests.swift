import BrokerApp
import Logging
import Synchronization
import Testing

/// Text logs quote values that come from outside (a `websocket_url` in `SERVER_AVAILABLE`, a
/// `receiver_id`, a `grpc_port`): a newline in one of them wrote a forged line of its own.
@Suite(.timeLimit(.minutes(10))) struct LogLineTests {
    @Test func controlCharactersFromOutsideCannotStartALine() {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "broker.test") { label in
            TextLogHandler(label: label) { text in lines.withLock { $0.append(text) } }
        }
        logger.logLevel = .info
        let forged = "ws://a/ws\n2026-12-06T00:00:00+0000 error broker: [BrokerDaemon] rules deleted"
        logger.warning(
            "following the advertised server\r\u{1B}[2J",
            metadata: ["websocket_url": "\(forged)", "grpc_port": .array(["1\n2"]), "key\tname": "x"])
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        let line = written[0]
        #expect(line.hasSuffix("\n") && line.dropLast().split(separator: "\n").count == 1, "\(line)")
        #expect(line.contains(#"websocket_url=ws://a/ws\n2026-12-06T00:00:00+0000 error broker"#), "\(line)")
        #expect(line.contains(#"following the advertised server\r\u{1B}[2J"#), "\(line)")
        #expect(line.contains(#"key\tname=x"#) && line.contains(#"grpc_port=["1\n2"]"#), "\(line)")
        #expect(line.contains(" warning broker.test: "), "the stream handler's layout: \(line)")
    }
}
