import Foundation
import Logging

/// One line of text per log record, laid out as swift-log's stream handler writes it, with the
/// time in UTC to the millisecond as in the JSON format
/// (`2026-12-06T05:00:00.123Z info broker.router: key=value [Module] message`), with every control
/// character of the message and of metadata escaped (`\n`, `\r`, `\t`, `\u{1B}`): values that come
/// from outside (a `websocket_url`, a `receiver_id`, a `grpc_port`) cannot start a forged line.
public struct TextLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let write: @Sendable (String) -> Void

    /// A handler writing to standard error, or to `write` (tests).
    public init(label: String, write: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        self.write = write ?? { FileHandle.standardError.write(Data($0.utf8)) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.sorted { $0.key < $1.key }.map { " \(Self.escape($0.key))=\(Self.escape("\($0.value)"))" }
        write(
            "\(LogTimestamp.now()) \(event.level) \(label):\(fields.joined()) [\(Self.escape(event.source))] \(Self.escape(event.message.description))\n"
        )
    }

    /// `text` with its control characters written as escapes.
    static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where isControl(scalar): escaped += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
    }
}
