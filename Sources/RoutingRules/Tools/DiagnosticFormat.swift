import BrokerCore

/// How `validate-rules` prints diagnostics.
public enum DiagnosticFormat: String, Sendable, CaseIterable {
    /// `file:line:column: error: message`, one per line.
    case text
    /// One JSON document: `{"valid": bool, "errors": n, "warnings": n, "diagnostics": [...]}`.
    case json
    /// GitHub Actions workflow commands (`::error file=…,line=…,col=…::message`).
    case github

    /// Renders `diagnostics` in this format.
    public func render(_ diagnostics: [Diagnostic], valid: Bool) -> String {
        switch self {
        case .text:
            return diagnostics.map(\.description).joined(separator: "\n")
        case .github:
            return diagnostics.flatMap { d in
                let level = d.severity == .error ? "error" : "warning"
                let message = d.message.replacingPercentAndNewlines
                let line =
                    "::\(level) file=\(d.location.file),line=\(d.location.line),col=\(d.location.column)::\(message)"
                return [line]
                    + d.notes.map { note in
                        "::notice file=\(note.location.file),line=\(note.location.line),col=\(note.location.column)::\(note.message.replacingPercentAndNewlines)"
                    }
            }.joined(separator: "\n")
        case .json:
            let items: [JSONValue] = diagnostics.map { d in
                var fields: [(String, JSONValue)] = [
                    ("severity", .string(d.severity.rawValue)), ("file", .string(d.location.file)),
                    ("line", .number(JSONNumber(d.location.line))),
                    ("column", .number(JSONNumber(d.location.column))),
                    ("message", .string(d.message)),
                ]
                if !d.notes.isEmpty {
                    let notes: [JSONValue] = d.notes.map { note in
                        .object(
                            JSONObject([
                                ("file", .string(note.location.file)),
                                ("line", .number(JSONNumber(note.location.line))),
                                ("column", .number(JSONNumber(note.location.column))),
                                ("message", .string(note.message)),
                            ]))
                    }
                    fields.append(("notes", .array(notes)))
                }
                return .object(JSONObject(fields))
            }
            let errors = diagnostics.filter { $0.severity == .error }.count
            return JSONWriter.string(
                .object(
                    JSONObject([
                        ("valid", .bool(valid)), ("errors", .number(JSONNumber(errors))),
                        ("warnings", .number(JSONNumber(diagnostics.count - errors))), ("diagnostics", .array(items)),
                    ])))
        }
    }
}

extension String {
    /// The text escaped for a GitHub Actions workflow command's message (`%`, CR and LF).
    public var replacingPercentAndNewlines: String {
        var out = ""
        for c in self {
            switch c {
            case "%": out += "%25"
            case "\n": out += "%0A"
            case "\r": out += "%0D"
            default: out.append(c)
            }
        }
        return out
    }
}
