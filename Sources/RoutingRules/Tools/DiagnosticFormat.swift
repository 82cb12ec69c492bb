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
            return diagnostics.map { d in
                let level = d.severity == .error ? "error" : "warning"
                let message = d.message.replacingPercentAndNewlines
                return "::\(level) file=\(d.location.file),line=\(d.location.line),col=\(d.location.column)::\(message)"
            }.joined(separator: "\n")
        case .json:
            let items: [JSONValue] = diagnostics.map { d in
                .object(
                    JSONObject([
                        ("severity", .string(d.severity.rawValue)), ("file", .string(d.location.file)),
                        ("line", .number(JSONNumber(d.location.line))),
                        ("column", .number(JSONNumber(d.location.column))),
                        ("message", .string(d.message)),
                    ]))
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
    var replacingPercentAndNewlines: String {
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
