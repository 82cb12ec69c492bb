import BrokerCore
import Foundation
import Logging

/// One JSON object per log line, with the fields of the text format (``TextLogHandler``):
/// `ts` (UTC with milliseconds), `level`, `logger`, `source` (the module), `message`, then the
/// metadata, each a string.
public struct JSONLogHandler: LogHandler {
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
        var object = JSONObject([
            ("ts", .string(LogTimestamp.now())), ("level", .string(event.level.rawValue)),
            ("logger", .string(label)), ("source", .string(event.source)),
            ("message", .string(event.message.description)),
        ])
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = .string(value.description)
        }
        write(JSONWriter.string(.object(object)) + "\n")
    }
}
