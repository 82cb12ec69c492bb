import Yams

/// Bounds on what a rule file may contain. Rule files are data written by people; anything
/// past these limits is far more likely an accident or an attack than a real rule set.
public struct RuleFileLimits: Sendable, Hashable {
    /// The largest rule file accepted, in bytes.
    public var maximumFileSize = 1 << 20
    /// The most YAML nodes a file may expand to (aliases count once per use).
    public var maximumNodes = 200_000
    /// The most alias uses (`*name`) in one file.
    public var maximumAliases = 256
    /// The deepest nesting of mappings and sequences.
    public var maximumDepth = 64

    public init() {}
}

/// Turns the bytes of one rule file into a located YAML tree, or diagnostics.
enum YAMLLoader {
    static func load(_ bytes: [UInt8], file: String, limits: RuleFileLimits, into sink: inout DiagnosticSink)
        -> YAMLNode?
    {
        let start = SourceLocation(file: file, line: 1, column: 1)
        guard bytes.count <= limits.maximumFileSize else {
            sink.error(start, "file is \(bytes.count) bytes, over the limit of \(limits.maximumFileSize) bytes")
            return nil
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let offset = firstInvalidUTF8Offset(bytes)
            sink.error(location(ofByte: offset, in: bytes, file: file), "file is not valid UTF-8 (byte \(offset))")
            return nil
        }
        if text.unicodeScalars.contains("\u{0}") {
            sink.error(start, "file contains a NUL character")
            return nil
        }
        guard checkAliases(text, file: file, limits: limits, into: &sink) else { return nil }
        let root: Node?
        do {
            // The basic resolver: scalar types are resolved by `YAMLScalar` (YAML 1.2 core), and
            // skipping Yams' regular-expression resolver more than halves the load time.
            root = try Yams.compose(yaml: text, Resolver.basic)
        } catch let error as YamlError {
            report(error, file: file, bytes: bytes, into: &sink)
            return nil
        } catch {
            sink.error(start, "cannot read YAML: \(error)")
            return nil
        }
        guard let root else {
            sink.error(start, "file is empty: expected a mapping with 'version' and 'routes'")
            return nil
        }
        var budget = limits.maximumNodes
        do {
            return try convert(root, file: file, depth: 0, limits: limits, budget: &budget)
        } catch {
            sink.error(error.location, error.message)
            return nil
        }
    }

    private struct ConversionError: Error {
        var location: SourceLocation
        var message: String
    }

    private static func convert(
        _ node: Node, file: String, depth: Int, limits: RuleFileLimits, budget: inout Int
    ) throws(ConversionError) -> YAMLNode {
        let mark = node.mark
        let location = SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
        budget -= 1
        guard budget >= 0 else {
            throw ConversionError(
                location: location,
                message: "document expands to more than \(limits.maximumNodes) nodes (an alias bomb?)")
        }
        guard depth <= limits.maximumDepth else {
            throw ConversionError(location: location, message: "nesting deeper than \(limits.maximumDepth) levels")
        }
        switch node {
        case .scalar(let scalar):
            let quoted = scalar.style != .plain && scalar.style != .any
            return YAMLNode(kind: .scalar(YAMLScalar(text: scalar.string, quoted: quoted)), location: location)
        case .sequence(let sequence):
            var items: [YAMLNode] = []
            for item in sequence {
                items.append(try convert(item, file: file, depth: depth + 1, limits: limits, budget: &budget))
            }
            return YAMLNode(kind: .sequence(items), location: location)
        case .mapping(let mapping):
            var pairs: [(key: YAMLNode, value: YAMLNode)] = []
            for (key, value) in mapping {
                let k = try convert(key, file: file, depth: depth + 1, limits: limits, budget: &budget)
                let v = try convert(value, file: file, depth: depth + 1, limits: limits, budget: &budget)
                pairs.append((k, v))
            }
            return YAMLNode(kind: .mapping(pairs), location: location)
        case .alias:
            throw ConversionError(location: location, message: "unresolved alias")
        }
    }

    /// Counts alias uses before libyaml expands anything, and refuses aliases used as keys
    /// (hashing an expanded key is where expansion would cost exponential time).
    private static func checkAliases(
        _ text: String, file: String, limits: RuleFileLimits, into sink: inout DiagnosticSink
    ) -> Bool {
        guard text.utf8.contains(UInt8(ascii: "*")) else { return true }
        var count = 0
        var line = 1
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            defer { line += 1 }
            let scalars = Array(rawLine.unicodeScalars)
            var quote: Unicode.Scalar? = nil
            var i = 0
            while i < scalars.count {
                let c = scalars[i]
                if let q = quote {
                    if c == q { quote = nil }
                } else if c == "\"" || c == "'" {
                    if i == 0 || " [{,:-?".unicodeScalars.contains(scalars[i - 1]) { quote = c }
                } else if c == "#", i == 0 || scalars[i - 1] == " " || scalars[i - 1] == "\t" {
                    break
                } else if c == "*", i + 1 < scalars.count, isAnchorCharacter(scalars[i + 1]),
                    i == 0 || " \t[{,".unicodeScalars.contains(scalars[i - 1])
                {
                    count += 1
                    let location = SourceLocation(file: file, line: line, column: i + 1)
                    if count > limits.maximumAliases {
                        sink.error(location, "more than \(limits.maximumAliases) aliases in one file")
                        return false
                    }
                    var end = i + 1
                    while end < scalars.count, isAnchorCharacter(scalars[end]) { end += 1 }
                    var after = end
                    while after < scalars.count, scalars[after] == " " { after += 1 }
                    let precededByQuestion = scalars[..<i].last { $0 != " " } == "?"
                    if (after < scalars.count && scalars[after] == ":") || precededByQuestion {
                        sink.error(location, "an alias cannot be used as a mapping key in a rule file")
                        return false
                    }
                    i = end
                    continue
                }
                i += 1
            }
        }
        return true
    }

    private static func isAnchorCharacter(_ scalar: Unicode.Scalar) -> Bool {
        !" \t\r\n,[]{}".unicodeScalars.contains(scalar)
    }

    private static func report(_ error: YamlError, file: String, bytes: [UInt8], into sink: inout DiagnosticSink) {
        func at(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file, line: max(mark.line, 1), column: max(mark.column, 1))
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let contextText = context.map { " (\($0.text))" } ?? ""
            sink.error(at(mark), "invalid YAML: \(problem)\(contextText)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            sink.error(at(context.mark), "duplicate key \(names) in mapping")
        case .reader(let problem, let offset, _, _):
            sink.error(location(ofByte: offset ?? 0, in: bytes, file: file), "cannot read file: \(problem)")
        default:
            sink.error(SourceLocation(file: file, line: 1, column: 1), "invalid YAML: \(error)")
        }
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
