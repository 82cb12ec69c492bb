/// Why a byte sequence is not acceptable JSON.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var reason: String
    /// The byte offset where the problem was found.
    public var offset: Int
    /// Whether parsing stopped because the value would take more memory than allowed (the
    /// input may be valid JSON).
    public var exceedsMemoryLimit = false

    public init(reason: String, offset: Int, exceedsMemoryLimit: Bool = false) {
        self.reason = reason
        self.offset = offset
        self.exceedsMemoryLimit = exceedsMemoryLimit
    }

    public var description: String { "\(reason) at byte \(offset)" }
}

/// A strict RFC 8259 JSON parser that keeps key order and number literals.
///
/// It rejects what the standard rejects (trailing commas, comments, single quotes, lone
/// surrogates, invalid UTF-8, bare control characters) and bounds nesting depth, so a hostile
/// message cannot exhaust the stack.
///
/// It also bounds memory: ``parse(_:maximumDepth:maximumCost:)`` stops once the value it builds
/// would take more than `maximumCost` bytes (an upper estimate of the heap the value and its
/// arrays' spare capacity take), so `[0,0,0,…]`, which takes 24 bytes per 2 bytes of input, is
/// refused early instead of multiplying a large body in memory.
public struct JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    public static let defaultMaximumDepth = 128

    /// Parses one JSON value that fills the whole input (surrounding white space allowed).
    ///
    /// - Parameter maximumCost: the most memory, in bytes, the parsed value may take (counted
    ///   generously: two value slots per array element or object entry, for spare capacity,
    ///   and the heap of every string longer than 15 bytes); beyond it parsing throws an error
    ///   whose ``JSONParseError/exceedsMemoryLimit`` is set.
    public static func parse(
        _ bytes: some Collection<UInt8>, maximumDepth: Int = defaultMaximumDepth, maximumCost: Int = .max
    ) throws(JSONParseError) -> JSONValue {
        let parsed: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable {
            parse(buffer: $0, maximumDepth: maximumDepth, maximumCost: maximumCost)
        }
        let result =
            parsed
            ?? Array(bytes).withUnsafeBufferPointer {
                parse(buffer: $0, maximumDepth: maximumDepth, maximumCost: maximumCost)
            }
        return try result.get()
    }

    private static func parse(
        buffer: UnsafeBufferPointer<UInt8>, maximumDepth: Int, maximumCost: Int
    ) -> Result<JSONValue, JSONParseError> {
        var reader = Reader(bytes: buffer, maximumDepth: maximumDepth, maximumCost: maximumCost)
        do throws(JSONParseError) {
            reader.skipWhitespace()
            let value = try reader.parseValue(depth: 0)
            reader.skipWhitespace()
            guard reader.position == buffer.count else {
                throw reader.error("unexpected data after the JSON value")
            }
            return .success(value)
        } catch {
            return .failure(error)
        }
    }

    /// Parses a JSON text given as a string.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }
}

struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    let maximumDepth: Int
    let maximumCost: Int
    var position = 0
    /// The memory the values built so far take (an upper estimate).
    var cost = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int, maximumCost: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
        self.maximumCost = maximumCost
    }

    func error(_ reason: String) -> JSONParseError {
        JSONParseError(reason: reason, offset: position)
    }

    /// Counts `bytes` more of memory; throws once the total passes the limit.
    mutating func charge(_ bytes: Int) throws(JSONParseError) {
        cost &+= bytes
        guard cost <= maximumCost else {
            throw JSONParseError(
                reason: "the parsed value would take more than \(maximumCost) bytes of memory", offset: position,
                exceedsMemoryLimit: true)
        }
    }

    var atEnd: Bool { position >= bytes.count }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard !atEnd else { throw error("unexpected end of input") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return .object(try parseObject(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try parseArray(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default:
            throw error("unexpected character '\(Self.printable(bytes[position]))'")
        }
    }

    static func printable(_ byte: UInt8) -> String {
        (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }

    mutating func expectWord(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error("invalid literal") }
        let start = word.utf8Start
        for i in 0..<count where bytes[position + i] != start[i] {
            throw error("invalid literal")
        }
        position += count
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONObject {
        guard depth <= maximumDepth else { throw error("nesting deeper than \(maximumDepth)") }
        position += 1
        var entries: [JSONObject.Entry] = []
        try charge(JSONCost.collectionHeader)
        // Keys seen, once an object is large enough for scanning them to cost more than hashing
        // (a repeated key keeps its first position and takes the last value).
        var positions: [String: Int]?
        skipWhitespace()
        if !atEnd, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return JSONObject(uniqueEntries: entries)
        }
        while true {
            skipWhitespace()
            guard !atEnd, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard !atEnd, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':' after key") }
            position += 1
            skipWhitespace()
            try charge(JSONCost.objectEntry)
            let value = try parseValue(depth: depth)
            if let existing = Self.position(of: key, in: entries, index: &positions) {
                entries[existing].value = value
            } else {
                positions?[key] = entries.count
                entries.append(JSONObject.Entry(key: key, value: value))
            }
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of input in object") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return JSONObject(uniqueEntries: entries)
            } else {
                throw error("expected ',' or '}' in object")
            }
        }
    }

    /// Where `key` already is among `entries`: a scan while they are few, then a hash index
    /// (built once), so an object of many keys parses in linear time.
    static func position(of key: String, in entries: [JSONObject.Entry], index: inout [String: Int]?) -> Int? {
        if let index { return index[key] }
        guard entries.count >= 16 else { return entries.firstIndex { $0.key == key } }
        var built = [String: Int](minimumCapacity: entries.count * 2)
        for (offset, entry) in entries.enumerated() { built[entry.key] = offset }
        index = built
        return built[key]
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> [JSONValue] {
        guard depth <= maximumDepth else { throw error("nesting deeper than \(maximumDepth)") }
        position += 1
        var array: [JSONValue] = []
        try charge(JSONCost.collectionHeader)
        skipWhitespace()
        if !atEnd, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return array
        }
        while true {
            skipWhitespace()
            try charge(JSONCost.arrayElement)
            array.append(try parseValue(depth: depth))
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of input in array") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return array
            } else {
                throw error("expected ',' or ']' in array")
            }
        }
    }

    mutating func parseNumber() throws(JSONParseError) -> JSONNumber {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard !atEnd else { throw error("invalid number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            guard consumeDigits() > 0 else { throw error("invalid number") }
        }
        if !atEnd, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard consumeDigits() > 0 else { throw error("invalid number: digits expected after '.'") }
        }
        if !atEnd, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if !atEnd, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard consumeDigits() > 0 else { throw error("invalid number: digits expected in exponent") }
        }
        try charge(JSONCost.string(byteCount: position - start))
        let literal = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        return JSONNumber(literal: literal)
    }

    mutating func consumeDigits() -> Int {
        let start = position
        while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
            position += 1
        }
        return position - start
    }

    mutating func parseString() throws(JSONParseError) -> String {
        position += 1
        let start = position
        // Fast path: no escapes, validated as UTF-8 by String(validating:).
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                try charge(JSONCost.string(byteCount: position - start))
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<position])
                guard let string = String(validating: slice, as: UTF8.self) else {
                    throw error("invalid UTF-8 in string")
                }
                position += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("control character in string") }
            position += 1
        }
        var scratch = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                try charge(JSONCost.string(byteCount: scratch.count) + JSONCost.string(byteCount: scratch.capacity))
                guard let string = String(validating: scratch, as: UTF8.self) else {
                    throw error("invalid UTF-8 in string")
                }
                return string
            case UInt8(ascii: "\\"):
                position += 1
                guard !atEnd else { throw error("unterminated escape") }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): scratch.append(0x22)
                case UInt8(ascii: "\\"): scratch.append(0x5C)
                case UInt8(ascii: "/"): scratch.append(0x2F)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"): scratch.append(contentsOf: try parseUnicodeEscape())
                default: throw error("invalid escape '\\\(Self.printable(escape))'")
                }
            default:
                if byte < 0x20 { throw error("control character in string") }
                scratch.append(byte)
                position += 1
            }
        }
        throw error("unterminated string")
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    mutating func parseUnicodeEscape() throws(JSONParseError) -> [UInt8] {
        var code = try parseHex4()
        if (0xD800...0xDBFF).contains(code) {
            guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
                bytes[position + 1] == UInt8(ascii: "u")
            else { throw error("lone high surrogate in \\u escape") }
            position += 2
            let low = try parseHex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate in \\u escape") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(code) {
            throw error("lone low surrogate in \\u escape")
        }
        guard let scalar = Unicode.Scalar(code) else { throw error("invalid code point") }
        return Array(String(scalar).utf8)
    }
}

/// What parsed JSON takes in memory, as the parser counts it: upper estimates of the heap a
/// value takes on a 64-bit platform, with room for the spare capacity of growing arrays.
enum JSONCost {
    /// An array or object's heap header.
    static let collectionHeader = 32
    /// One array element: a `JSONValue` (24 bytes), twice for the spare capacity of growth.
    static let arrayElement = 2 * MemoryLayout<JSONValue>.stride
    /// One object entry: a key and a value (40 bytes), twice for the spare capacity of growth.
    static let objectEntry = 2 * MemoryLayout<JSONObject.Entry>.stride

    /// A string of `byteCount` UTF-8 bytes: nothing up to 15 (stored inline), else its bytes,
    /// a terminator and a heap header, rounded up to the allocator's 16-byte granule.
    static func string(byteCount: Int) -> Int {
        byteCount <= 15 ? 0 : (byteCount + 1 + 32 + 15) & ~15
    }
}
