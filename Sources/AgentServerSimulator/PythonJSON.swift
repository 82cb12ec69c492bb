import BrokerCore

/// JSON as Python's `json.dumps` writes it by default (`", "` and `": "` separators, non-ASCII
/// escaped as `\uXXXX`): the simulator re-serialises what it republishes the way the original
/// server does, so the broker is tested against a body that is equal in content but not in bytes.
enum PythonJSON {
    static func string(_ value: JSONValue) -> String {
        var output = ""
        write(value, into: &output)
        return output
    }

    static func bytes(_ object: JSONObject) -> [UInt8] { Array(string(.object(object)).utf8) }

    private static func write(_ value: JSONValue, into output: inout String) {
        switch value {
        case .null: output += "null"
        case .bool(let b): output += b ? "true" : "false"
        case .number(let n): output += n.literal
        case .string(let s): writeString(s, into: &output)
        case .array(let items):
            output += "["
            for (i, item) in items.enumerated() {
                if i > 0 { output += ", " }
                write(item, into: &output)
            }
            output += "]"
        case .object(let object):
            output += "{"
            for (i, entry) in object.enumerated() {
                if i > 0 { output += ", " }
                writeString(entry.key, into: &output)
                output += ": "
                write(entry.value, into: &output)
            }
            output += "}"
        }
    }

    private static func writeString(_ text: String, into output: inout String) {
        output += "\""
        for unit in text.utf16 {
            switch unit {
            case 0x22: output += "\\\""
            case 0x5C: output += "\\\\"
            case 0x0A: output += "\\n"
            case 0x0D: output += "\\r"
            case 0x09: output += "\\t"
            case 0x08: output += "\\b"
            case 0x0C: output += "\\f"
            case 0x20..<0x7F: output.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default:
                let hex = String(unit, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        output += "\""
    }
}
