import BrokerCore

/// Reading YAML or JSON files that are not rules (registry snapshots, rule test files,
/// messages, and the settings file of `broker run --config`) with the same parser, limits and
/// located errors as rule files.
public enum YAMLData {
    /// A problem reading a data file.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var diagnostics: [Diagnostic]
        public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
    }

    /// Parses `bytes` (YAML, of which JSON is a subset) into a JSON value; key order is kept.
    public static func parse(_ bytes: [UInt8], name: String, limits: RuleFileLimits = RuleFileLimits()) throws(Failure)
        -> JSONValue
    {
        var sink = DiagnosticSink()
        guard let root = YAMLLoader.load(bytes, file: name, limits: limits, into: &sink) else {
            throw Failure(diagnostics: sink.diagnostics)
        }
        return root.json
    }

    /// One entry of a settings file (a mapping of names to values), with where it is written.
    public struct Setting: Sendable {
        public var key: String
        public var value: JSONValue
        /// Where the key is written.
        public var location: SourceLocation
        /// Where the value is written.
        public var valueLocation: SourceLocation
    }

    /// Reads a file that holds a mapping of names to values (`broker run --config`), keeping the
    /// position of every entry so that an error about one can point at it.
    public static func settings(_ bytes: [UInt8], name: String) throws(Failure) -> [Setting] {
        var sink = DiagnosticSink()
        guard let root = YAMLLoader.load(bytes, file: name, limits: RuleFileLimits(), into: &sink) else {
            throw Failure(diagnostics: sink.diagnostics)
        }
        guard case .mapping(let pairs) = root.kind else {
            throw Failure(diagnostics: [
                Diagnostic(
                    .error, root.location,
                    "expected a mapping of option names to values, found \(root.kindDescription)")
            ])
        }
        var settings: [Setting] = []
        for pair in pairs {
            guard let key = pair.key.text, pair.key.scalar != nil else {
                sink.error(pair.key.location, "a setting's name is a plain string, found \(pair.key.kindDescription)")
                continue
            }
            settings.append(
                Setting(
                    key: key, value: pair.value.json, location: pair.key.location, valueLocation: pair.value.location))
        }
        if sink.hasErrors { throw Failure(diagnostics: sink.diagnostics) }
        return settings
    }

    /// Reads a registry snapshot: `{agents: [...]}` (an `AgentStatusResponse` in JSON) or a bare list.
    public static func registry(_ bytes: [UInt8], name: String) throws(Failure) -> AgentRegistry.Snapshot {
        try registry(from: checkedRegistry(bytes, name: name), name: name)
    }

    /// Reads a registry snapshot file as the full status update it describes.
    public static func statusUpdate(_ bytes: [UInt8], name: String) throws(Failure) -> AgentStatusUpdate {
        try statusUpdate(from: checkedRegistry(bytes, name: name).json, name: name)
    }

    /// A registry written in a file (or inside a test file): its shape checked with positions
    /// (``RegistryFileCheck``), then read.
    static func registry(from node: YAMLNode, name: String) throws(Failure) -> AgentRegistry.Snapshot {
        var sink = DiagnosticSink()
        RegistryFileCheck.check(node, into: &sink)
        if sink.hasErrors { throw Failure(diagnostics: sink.diagnostics) }
        return AgentRegistry.Snapshot(agents: try statusUpdate(from: node.json, name: name).agents.map { Agent($0) })
    }

    private static func checkedRegistry(_ bytes: [UInt8], name: String) throws(Failure) -> YAMLNode {
        var sink = DiagnosticSink()
        guard let root = YAMLLoader.load(bytes, file: name, limits: RuleFileLimits(), into: &sink) else {
            throw Failure(diagnostics: sink.diagnostics)
        }
        RegistryFileCheck.check(root, into: &sink)
        if sink.hasErrors { throw Failure(diagnostics: sink.diagnostics) }
        return root
    }

    static func statusUpdate(from value: JSONValue, name: String) throws(Failure) -> AgentStatusUpdate {
        let object: JSONObject
        switch value {
        case .object(let o): object = o
        case .array(let items): object = JSONObject([("agents", .array(items))])
        default:
            throw Failure(diagnostics: [
                Diagnostic(
                    .error, SourceLocation(file: name, line: 1, column: 1),
                    "a registry is a mapping with 'agents' or a list of agents")
            ])
        }
        let (update, problems) = AgentStatusUpdate.decode(json: object, defaultFull: true)
        if !problems.isEmpty {
            throw Failure(
                diagnostics: problems.map {
                    Diagnostic(.error, SourceLocation(file: name, line: 1, column: 1), $0.description)
                })
        }
        return update
    }
}

extension YAMLNode {
    /// The node as JSON: scalars by their YAML 1.2 core type, mappings keep key order.
    var json: JSONValue {
        switch kind {
        case .scalar(let s):
            switch s.resolved {
            case .null: return .null
            case .bool(let b): return .bool(b)
            case .int, .float:
                if let n = s.number, n.isFinite, Double(s.text) != nil { return .number(JSONNumber(literal: s.text)) }
                return s.number.map { .number(JSONNumber($0)) } ?? .string(s.text)
            case .string: return .string(s.text)
            }
        case .sequence(let items): return .array(items.map(\.json))
        case .mapping(let pairs): return .object(JSONObject(pairs.map { ($0.key.text ?? "", $0.value.json) }))
        }
    }
}
