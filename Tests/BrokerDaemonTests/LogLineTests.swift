import BrokerApp
import BrokerCore
import Foundation
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

    @Test func bothFormatsSayTheTimeInUTCToTheMillisecondWithTheSameFields() throws {
        let lines = Mutex<[String]>([])
        let before = Date()
        for json in [false, true] {
            var logger = Logger(label: "broker.test") { label -> any LogHandler in
                let write: @Sendable (String) -> Void = { text in lines.withLock { $0.append(text) } }
                return json ? JSONLogHandler(label: label, write: write) : TextLogHandler(label: label, write: write)
            }
            logger.logLevel = .info
            logger.notice("rules reloaded", metadata: ["routes": "12"])
        }
        let written = lines.withLock { $0 }
        try #require(written.count == 2)
        let stamp = #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/#
        // Text: `TIME LEVEL LOGGER: key=value [SOURCE] MESSAGE`.
        let text = written[0].split(separator: " ", maxSplits: 1)
        #expect(String(text[0]).wholeMatch(of: stamp) != nil, "\(written[0])")
        #expect(text[1] == "notice broker.test: routes=12 [BrokerDaemonTests] rules reloaded\n")
        // JSON: the same fields, named.
        let object = try #require(try JSONParser.parse(written[1]).objectValue)
        let ts = try #require(object["ts"]?.stringValue)
        #expect(ts.wholeMatch(of: stamp) != nil, "\(ts)")
        #expect(object["level"]?.stringValue == "notice")
        #expect(object["logger"]?.stringValue == "broker.test")
        #expect(object["source"]?.stringValue == "BrokerDaemonTests")
        #expect(object["message"]?.stringValue == "rules reloaded")
        #expect(object["routes"]?.stringValue == "12")
        // And it is the time now, in UTC.
        let parsed = try #require(ISO8601DateFormatter.withFractionalSeconds.date(from: ts))
        #expect(abs(parsed.timeIntervalSince(before)) < 60)
    }
}

extension ISO8601DateFormatter {
    fileprivate static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
