/// The value types of a rule test file, checked with positions before the cases run: a wrong
/// type is an error at the value, not a case that silently expects something else.
enum RuleTestFileCheck {
    /// A single text value (a string, or a number or boolean written as text is read as written).
    static func text(_ node: YAMLNode, _ what: String, into sink: inout DiagnosticSink) -> String? {
        if let scalar = node.scalar, scalar.resolved != .null { return scalar.text }
        sink.error(node.location, "\(what) must be a single value (text), found \(node.kindDescription)")
        return nil
    }

    /// The message of a case: a mapping (the message as JSON would have it).
    static func message(_ node: YAMLNode, into sink: inout DiagnosticSink) -> Bool {
        if case .mapping = node.kind { return true }
        sink.error(
            node.location,
            "'message' must be a mapping (the message as JSON), found \(node.kindDescription); raw text goes in 'message_json'"
        )
        return false
    }

    /// One expectation, by the kind of value its key takes.
    static func expectation(_ key: String, _ node: YAMLNode, into sink: inout DiagnosticSink) {
        switch key {
        case "route", "agent", "output", "error_to_server", "decode_error":
            _ = text(node, "'\(key)'", into: &sink)
        case "agent_in", "agents":
            list(node, "'\(key)'", into: &sink)
        case "absent":
            if node.scalar == nil { list(node, "'absent'", into: &sink) }
        case "fields":
            if case .mapping = node.kind { return }
            sink.error(
                node.location, "'fields' must be a mapping of field names to values, found \(node.kindDescription)")
        case "message":
            if case .mapping = node.kind { return }
            _ = text(node, "'message'", into: &sink)
        case "dead_letter":
            if node.scalar?.resolved == .bool(true) { return }
            _ = text(node, "'dead_letter' (true, or a part of the reason)", into: &sink)
        default:  // drop, status_update
            guard node.scalar?.resolved != .bool(true) else { return }
            sink.error(node.location, "'\(key)' takes true, found \(describe(node))")
        }
    }

    private static func list(_ node: YAMLNode, _ what: String, into sink: inout DiagnosticSink) {
        guard case .sequence(let items) = node.kind else {
            sink.error(node.location, "\(what) must be a list of agent ids or names, found \(node.kindDescription)")
            return
        }
        for item in items { _ = text(item, "an item of \(what)", into: &sink) }
    }

    private static func describe(_ node: YAMLNode) -> String {
        node.scalar.map { "'\($0.text)'" } ?? node.kindDescription
    }
}
