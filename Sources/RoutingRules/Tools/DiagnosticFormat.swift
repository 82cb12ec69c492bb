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
                [GitHubAnnotation.line(d.severity == .error ? "error" : "warning", at: d.location, message: d.message)]
                    + d.notes.map { GitHubAnnotation.line("notice", at: $0.location, message: $0.message) }
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

/// One GitHub Actions workflow command (`::error file=…,line=…,col=…,title=…::message`), with
/// the message and the property values escaped as the runner reads them.
public enum GitHubAnnotation {
    /// The command for `level` (`error`, `warning`, `notice`) at `location`.
    public static func line(_ level: String, at location: SourceLocation, title: String? = nil, message: String)
        -> String
    {
        var properties =
            "file=\(property(location.file)),line=\(location.line),col=\(location.column)"
        if let title { properties += ",title=\(property(title))" }
        return "::\(level) \(properties)::\(message.replacingPercentAndNewlines)"
    }

    /// A property value: the message escapes plus `:` and `,` (which end a property).
    static func property(_ text: String) -> String {
        text.replacingPercentAndNewlines.replacingOccurrences(of: ":", with: "%3A")
            .replacingOccurrences(of: ",", with: "%2C")
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
