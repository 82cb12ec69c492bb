import BrokerCore
import Testing

/// The JSON parser against cases written from RFC 8259: what it must accept (with the value it
/// must produce) and what it must reject, and that what it writes back reads the same.
@Suite(.timeLimit(.minutes(10))) struct JSONConformanceTests {
    /// Texts the RFC allows, each with the compact form the writer gives back.
    static let accepted: [(text: String, written: String)] = [
        // Numbers (section 6): sign, zero, fractions, exponents, and literals kept as written.
        ("0", "0"), ("-0", "-0"), ("1.5e-10", "1.5e-10"), ("1E+2", "1E+2"), ("-1.0E-2", "-1.0E-2"),
        ("123456789012345678901234567890", "123456789012345678901234567890"), ("0.0", "0.0"), ("10", "10"),
        // Strings (section 7): every two-character escape, \u escapes, a surrogate pair, raw UTF-8.
        (#""""#, #""""#), (#""\"\\\/\b\f\n\r\t""#, #""\"\\/\b\f\n\r\t""#), (#""\u00e9""#, #""é""#),
        (#""\ud83d\ude00""#, #""😀""#), (#""é𝄞""#, #""é𝄞""#), (#""\u0000""#, #""\u0000""#),
        (#""\u001F""#, #""\u001f""#),
        // Literals and structure (sections 3-5), any value at the top level.
        ("true", "true"), ("false", "false"), ("null", "null"), ("[]", "[]"), ("{}", "{}"),
        (#"{"a":{"b":[[],{}]}}"#, #"{"a":{"b":[[],{}]}}"#), ("[1,\"two\",null]", "[1,\"two\",null]"),
        // The four white-space characters, anywhere between tokens.
        (" \t\n\r[ 1 ,\t2 ]\r\n ", "[1,2]"), ("{ \"a\" : 1 }", #"{"a":1}"#),
        // Duplicate names (section 4 says SHOULD be unique): the last value wins at the first
        // position, as the original broker's Python json does.
        (#"{"a":1,"b":2,"a":3}"#, #"{"a":3,"b":2}"#),
    ]

    /// Texts the RFC does not allow, and why.
    static let rejected: [(bytes: [UInt8], why: String)] =
        [
            ("01", "a leading zero"), ("-", "a sign without digits"), ("1.", "a point without digits"),
            (".5", "no integer part"), ("1e", "an exponent without digits"), ("1e+", "a signed empty exponent"),
            ("+1", "a plus sign"), ("0x10", "hexadecimal"), ("NaN", "NaN"), ("Infinity", "Infinity"),
            ("-Infinity", "-Infinity"), (#""\x""#, "an unknown escape"), (#""\u12""#, "a short \\u escape"),
            (#""\uD800""#, "a lone high surrogate"), (#""\uDC00""#, "a lone low surrogate"),
            (#""\ud800\u0041""#, "a high surrogate without its low half"), ("\"tab\there\"", "a raw tab"),
            ("\"line\nbreak\"", "a raw newline"), (#""open"#, "an unterminated string"), ("[1,]", "a trailing comma"),
            (#"{"a":1,}"#, "a trailing comma in an object"), ("{a:1}", "an unquoted name"),
            ("{'a':1}", "single quotes"),
            ("[1 2]", "a missing comma"), (#"{"a" 1}"#, "a missing colon"), (#"{"a":}"#, "a missing value"),
            ("[", "an unclosed array"), ("]", "a stray bracket"), ("", "nothing"), (" ", "only white space"),
            ("nul", "a truncated literal"), ("True", "a capitalised literal"), ("/* c */ 1", "a comment"),
            ("// c\n1", "a line comment"), ("1 2", "two values"), ("\u{00A0}1", "a no-break space as white space"),
            ("\u{FEFF}{}", "a byte order mark"), ("[1,,2]", "an empty element"), (#"{"a":1 "b":2}"#, "a missing comma"),
        ].map { (Array($0.0.utf8), $0.1) }
        + [
            ([0x22, 0xC3, 0x22], "a truncated UTF-8 sequence"), ([0x22, 0xC0, 0xAF, 0x22], "an overlong encoding"),
            ([0x22, 0xED, 0xA0, 0x80, 0x22], "a surrogate encoded in UTF-8"),
            ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], "a code point past U+10FFFF"), ([0x22, 0xFF, 0x22], "a 0xFF byte"),
        ]

    @Test(arguments: 0..<accepted.count)
    func acceptedAndWrittenBackCompact(_ index: Int) throws {
        let (text, written) = Self.accepted[index]
        let value = try JSONParser.parse(text)
        #expect(JSONWriter.string(value) == written, "\(text.debugDescription)")
        // What the writer gives back reads as the same value, and writes the same bytes.
        let again = try JSONParser.parse(JSONWriter.bytes(value))
        #expect(again == value)
        #expect(JSONWriter.bytes(again) == JSONWriter.bytes(value))
    }

    @Test(arguments: 0..<rejected.count)
    func rejectedWithAPosition(_ index: Int) {
        let (bytes, why) = Self.rejected[index]
        do {
            _ = try JSONParser.parse(bytes)
            Issue.record("accepted \(why): \(String(decoding: bytes, as: UTF8.self).debugDescription)")
        } catch {
            #expect(error.offset >= 0 && error.offset <= bytes.count, "\(why): \(error)")
        }
    }

    @Test func nestingIsBoundedAtTheDocumentedDepth() throws {
        let depth = JSONParser.defaultMaximumDepth
        let deepest = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        _ = try JSONParser.parse(deepest)
        let tooDeep = String(repeating: "[", count: depth + 2) + String(repeating: "]", count: depth + 2)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(tooDeep) }
    }

    @Test func aCompactBodyRoundTripsByteForByte() throws {
        // What agents send (compact, raw UTF-8, literals as written) comes back unchanged.
        let body =
            #"{"message_type":"TEXT","sender_id":"agent_é","text_payload":"日本語 \"quoted\" \\ tab\t","n":1.50,"big":12345678901234567890123,"list":[true,false,null,-0,2E-3],"nested":{"a":{}}}"#
        #expect(JSONWriter.string(try JSONParser.parse(body)) == body)
    }
}
