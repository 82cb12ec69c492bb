import Foundation

/// Bounds on what a rule file may contain. Rule files are data written by people and by tools;
/// anything past these limits is far more likely an accident or an attack than a real rule set.
public struct RuleFileLimits: Sendable, Hashable {
    /// The largest rule file accepted, in bytes: 64 MiB, or `BROKER_MAX_RULE_FILE_SIZE` (bytes,
    /// or with a `K`, `M` or `G` suffix) when set. 10,000 routes in block style are about 1.5 MB.
    public var maximumFileSize = RuleFileLimits.environmentFileSize ?? 64 << 20
    /// The most YAML nodes a file may expand to (aliases count once per node they stand for).
    public var maximumNodes = 4_000_000
    /// The most alias uses (`*name`) in one file.
    public var maximumAliases = 256
    /// The deepest nesting of mappings and sequences.
    public var maximumDepth = 64
    /// The most automaton steps all the regular expressions of a rule set compile to together
    /// (each step takes 24 bytes, so a million is 24 MB; one pattern alone is limited to
    /// ``LinearRegex/maximumProgramSize``). A bounded repetition counts its body once per
    /// repeat: `(a{1000}){19}` is 19,001 steps.
    public var maximumPatternSteps = 1_000_000

    public init() {}

    /// `BROKER_MAX_RULE_FILE_SIZE` as a number of bytes, if it is set and valid.
    static var environmentFileSize: Int? {
        ProcessInfo.processInfo.environment["BROKER_MAX_RULE_FILE_SIZE"].flatMap(parseSize)
    }

    /// `1048576`, `512K`, `64M`, `1G` as bytes.
    public static func parseSize(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        guard let last = text.uppercased().last else { return nil }
        if let unit = units[last] { return Int(text.dropLast()).map { $0 * unit }.flatMap { $0 > 0 ? $0 : nil } }
        return Int(text).flatMap { $0 > 0 ? $0 : nil }
    }
}

/// libyaml on its own: the floor for loading a rule file, measured in the same run as the
/// loader by `validate-rules --timings` and the benchmarks.
public enum YAMLBaseline {
    /// Parses `bytes` into libyaml's events and discards them; returns how many there were (0
    /// on a syntax error).
    public static func eventCount(_ bytes: [UInt8]) -> Int { YAMLEventReader.countEvents(bytes) }
}

/// Turns the bytes of one rule file into a located YAML tree, or diagnostics.
enum YAMLLoader {
    /// The tree of `bytes`; `size` is the file's size on disk when only part of it was read.
    static func load(
        _ bytes: [UInt8], file: String, limits: RuleFileLimits, size: Int? = nil, into sink: inout DiagnosticSink
    ) -> YAMLNode? {
        let start = SourceLocation(file: file, line: 1, column: 1)
        let size = max(size ?? bytes.count, bytes.count)
        guard size <= limits.maximumFileSize else {
            sink.error(
                start,
                "file is \(size) bytes, over the limit of \(limits.maximumFileSize) bytes (BROKER_MAX_RULE_FILE_SIZE raises it)"
            )
            return nil
        }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            let offset = firstInvalidUTF8Offset(bytes)
            sink.error(location(ofByte: offset, in: bytes, file: file), "file is not valid UTF-8 (byte \(offset))")
            return nil
        }
        if bytes.contains(0) {
            sink.error(start, "file contains a NUL character")
            return nil
        }
        var reader = YAMLEventReader(file: file, limits: limits)
        let root: YAMLNode?
        do {
            root = try reader.read(bytes)
        } catch {
            sink.error(error.location, error.message, notes: error.note.map { [$0] } ?? [])
            return nil
        }
        guard let root else {
            sink.error(start, "file is empty: expected a mapping with 'version' and 'routes'")
            return nil
        }
        return root
    }

    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput, .error: return offset
            }
        }
    }

    static func location(ofByte offset: Int, in bytes: [UInt8], file: String) -> SourceLocation {
        var line = 1
        var column = 1
        for byte in bytes.prefix(offset) {
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return SourceLocation(file: file, line: line, column: column)
    }
}
