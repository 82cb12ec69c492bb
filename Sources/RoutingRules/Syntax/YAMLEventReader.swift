import CLibYAML

/// Builds the located YAML tree from libyaml's event stream in one pass: no intermediate
/// document, every node at the position libyaml reports for it, and the rule files' own checks
/// made as the events arrive (duplicate keys, aliases, depth, size, one document).
struct YAMLEventReader {
    /// A problem that ends the read, with an optional second place to look.
    struct Failure: Error {
        var location: SourceLocation
        var message: String
        var note: Diagnostic.Note?
    }

    /// A collection being read. Its children wait in the reader's `children` stack and are
    /// moved into one exactly sized array when it ends (one allocation per collection).
    private struct Frame {
        var isMapping: Bool
        var location: SourceLocation
        var anchor: String?
        /// Nodes inside it so far (an alias counts its anchor's nodes).
        var nodes = 0
        /// Where its children start in `children`; a mapping's alternate key, value, key, ….
        var start: Int
        /// A large mapping's scalar keys so far, where each is (a small one is searched).
        var seen: [String: SourceLocation]?
    }

    let file: String
    let limits: RuleFileLimits
    /// Mappings with more keys than this look keys up in a table instead of searching them.
    fileprivate static let searchedKeys = 16
    private var stack: [Frame] = []
    private var children: [YAMLNode] = []
    private var anchors: [String: (node: YAMLNode, nodes: Int)] = [:]
    private var aliases = 0
    private var nodes = 0
    private var root: YAMLNode?
    private var documents = 0

    init(file: String, limits: RuleFileLimits) {
        self.file = file
        self.limits = limits
    }

    /// The tree of the one document in `bytes` (valid UTF-8 without NUL), `nil` for an empty
    /// stream.
    mutating func read(_ bytes: [UInt8]) throws(Failure) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw Failure(location: location(line: 0, column: 0), message: "cannot start the YAML parser")
        }
        defer { yaml_parser_delete(&parser) }
        return try bytes.withUnsafeBufferPointer { (buffer) throws(Failure) -> YAMLNode? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else { throw syntaxFailure(parser, bytes) }
                let done = event.type == YAML_STREAM_END_EVENT
                do throws(Failure) {
                    try handle(event)
                } catch {
                    yaml_event_delete(&event)
                    throw error
                }
                yaml_event_delete(&event)
                if done { return root }
            }
        }
    }

    /// How many events libyaml produces for `bytes`, doing nothing with them (0 on a syntax
    /// error): the floor the loader's time is measured against.
    static func countEvents(_ bytes: [UInt8]) -> Int {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return 0 }
        defer { yaml_parser_delete(&parser) }
        return bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            var count = 0
            while yaml_parser_parse(&parser, &event) == 1 {
                count += 1
                let done = event.type == YAML_STREAM_END_EVENT
                yaml_event_delete(&event)
                if done { return count }
            }
            return 0
        }
    }

    private mutating func handle(_ event: yaml_event_t) throws(Failure) {
        let at = location(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw Failure(location: at, message: "a rule file holds one YAML document; a second one starts here")
            }
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = Self.string(scalar.value, count: scalar.length)
            let quoted = scalar.style != YAML_PLAIN_SCALAR_STYLE || Self.string(scalar.tag) == "tag:yaml.org,2002:str"
            try enter(at)
            let node = YAMLNode(kind: .scalar(YAMLScalar(text: text, quoted: quoted)), location: at)
            try add(node, nodes: 1, anchor: Self.string(scalar.anchor))
        case YAML_SEQUENCE_START_EVENT:
            try enter(at)
            stack.append(
                Frame(
                    isMapping: false, location: at, anchor: Self.string(event.data.sequence_start.anchor),
                    start: children.count))
        case YAML_MAPPING_START_EVENT:
            try enter(at)
            stack.append(
                Frame(
                    isMapping: true, location: at, anchor: Self.string(event.data.mapping_start.anchor),
                    start: children.count))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return }
            let kind: YAMLNode.Kind
            if frame.isMapping {
                var pairs: [(key: YAMLNode, value: YAMLNode)] = []
                pairs.reserveCapacity((children.count - frame.start) / 2)
                for key in stride(from: frame.start, to: children.count - 1, by: 2) {
                    pairs.append((children[key], children[key + 1]))
                }
                kind = .mapping(pairs)
            } else {
                kind = .sequence(Array(children[frame.start...]))
            }
            children.removeSubrange(frame.start...)
            try add(
                YAMLNode(kind: kind, location: frame.location), nodes: 1 + frame.nodes, anchor: frame.anchor)
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            aliases += 1
            guard aliases <= limits.maximumAliases else {
                throw Failure(location: at, message: "more than \(limits.maximumAliases) aliases in one file")
            }
            if nextIsMappingKey {
                throw Failure(location: at, message: "an alias cannot be used as a mapping key in a rule file")
            }
            guard let anchored = anchors[name] else {
                throw Failure(location: at, message: "alias '*\(name)' names no anchor defined before it")
            }
            try count(anchored.nodes, at: at)
            // The anchored node keeps its own position: that is where its text is written.
            try add(anchored.node, nodes: anchored.nodes, anchor: nil)
        default:
            break
        }
    }

    /// Checks the depth and budget for a scalar or collection that starts at `at`.
    private mutating func enter(_ at: SourceLocation) throws(Failure) {
        guard stack.count <= limits.maximumDepth else {
            throw Failure(location: at, message: "nesting deeper than \(limits.maximumDepth) levels")
        }
        try count(1, at: at)
    }

    private mutating func count(_ added: Int, at: SourceLocation) throws(Failure) {
        nodes += added
        guard nodes <= limits.maximumNodes else {
            throw Failure(
                location: at, message: "document expands to more than \(limits.maximumNodes) nodes (an alias bomb?)")
        }
    }

    /// Whether the next node read is a key of the mapping being read (its children alternate
    /// key, value).
    private var nextIsMappingKey: Bool {
        guard let top = stack.last, top.isMapping else { return false }
        return (children.count - top.start) % 2 == 0
    }

    /// Puts a finished node, already counted, into the collection being read (or makes it the
    /// root).
    private mutating func add(_ node: YAMLNode, nodes added: Int, anchor: String?) throws(Failure) {
        if let anchor { anchors[anchor] = (node, added) }
        let top = stack.count - 1
        guard top >= 0 else {
            root = node
            return
        }
        stack[top].nodes += added
        if nextIsMappingKey, let name = node.text,
            let first = firstKey(name, at: node.location, in: top)
        {
            throw Failure(
                location: node.location, message: "duplicate key '\(name)' in mapping",
                note: Diagnostic.Note(location: first, message: "'\(name)' is first set here"))
        }
        children.append(node)
    }

    /// Where the scalar key `name` was first set in the mapping of frame `top`, if it was;
    /// otherwise records it as set at `location`.
    private mutating func firstKey(_ name: String, at location: SourceLocation, in top: Int) -> SourceLocation? {
        let keys = stride(from: stack[top].start, to: children.count, by: 2)
        if stack[top].seen == nil, (children.count - stack[top].start) / 2 >= Self.searchedKeys {
            var table: [String: SourceLocation] = [:]
            for key in keys { if let text = children[key].text { table[text] = children[key].location } }
            stack[top].seen = table
        }
        guard stack[top].seen != nil else {
            return keys.first(where: { children[$0].text == name }).map { children[$0].location }
        }
        if let first = stack[top].seen?[name] { return first }
        stack[top].seen?[name] = location
        return nil
    }

    /// libyaml's error, at its problem position, with the construct it was reading as a note.
    private func syntaxFailure(_ parser: yaml_parser_t, _ bytes: [UInt8]) -> Failure {
        let problem = parser.problem.map { String(cString: $0) } ?? "cannot be parsed"
        if parser.error == YAML_READER_ERROR {
            return Failure(
                location: YAMLLoader.location(ofByte: parser.problem_offset, in: bytes, file: file),
                message: "cannot read file: \(problem)")
        }
        let at = location(parser.problem_mark)
        guard let context = parser.context.map({ String(cString: $0) }) else {
            return Failure(location: at, message: "invalid YAML: \(problem)")
        }
        // "while parsing a flow sequence" → "the flow sequence"
        var construct = context
        for prefix in ["while parsing ", "while scanning "] where construct.hasPrefix(prefix) {
            construct = String(construct.dropFirst(prefix.count))
        }
        if construct.hasPrefix("a ") { construct = "the " + construct.dropFirst(2) }
        if construct.hasPrefix("an ") { construct = "the " + construct.dropFirst(3) }
        let start = location(parser.context_mark)
        return Failure(
            location: at, message: "invalid YAML: \(problem) (in \(construct) that starts at line \(start.line))",
            note: Diagnostic.Note(location: start, message: "\(construct) starts here"))
    }

    private func location(_ mark: yaml_mark_t) -> SourceLocation { location(line: mark.line, column: mark.column) }

    private func location(line: Int, column: Int) -> SourceLocation {
        SourceLocation(file: file, line: line + 1, column: column + 1)
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, count: Int) -> String {
        guard let pointer, count > 0 else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
