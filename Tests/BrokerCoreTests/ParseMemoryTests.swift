import Foundation
import Testing

@testable import BrokerCore

/// Parsing takes memory bounded by the body's size: dense JSON is refused, not multiplied.
@Suite(.timeLimit(.minutes(10))) struct ParseMemoryTests {
    func body(_ json: String) -> [UInt8] { Array(json.utf8) }

    static let ordinaryMessages: [String] = {
        let text = String(repeating: "lorem ipsum ", count: 100_000)
        let ids: [String] = (0..<20_000).map { _ in "\"" + UUID().uuidString + "\"" }
        let floats: [String] = (0..<100_000).map { _ in "0." + String(Int.random(in: 100_000...999_999)) }
        let rows: [String] = (0..<5_000).map { "{\"id\":\($0),\"name\":\"agent \($0)\",\"ok\":true}" }
        return [
            "{\"message_id\":\"m1\",\"text_payload\":\"" + text + "\"}",
            "{\"ids\":[" + ids.joined(separator: ",") + "]}",
            "{\"embedding\":[" + floats.joined(separator: ",") + "]}",
            "{\"rows\":[" + rows.joined(separator: ",") + "]}",
            "{\"small\":[" + String(repeating: "1,", count: 1_000) + "1]}",
        ]
    }()

    @Test func denseJSONIsRefusedAsTooLargeWithAReason() throws {
        let dense = body(#"{"n":["# + String(repeating: "0,", count: 500_000) + "0]}")
        do {
            _ = try Message(decoding: dense)
            Issue.record("a megabyte of [0,0,…] takes 24 MB parsed: it must be refused")
        } catch {
            #expect(error.reasonCode == "too_large")
            #expect(error == .tooDense(size: dense.count, limit: MessageCost.parsedLimit(bodySize: dense.count)))
            #expect(error.description.contains("too dense"), "\(error)")
        }
    }

    /// What agents send parses: long text, identifiers, arrays of real numbers (an embedding),
    /// objects, and a small dense array (under the 64 KiB allowance).
    @Test(arguments: ParseMemoryTests.ordinaryMessages)
    func ordinaryMessagesParse(_ json: String) throws {
        #expect(throws: Never.self) { try Message(decoding: body(json)) }
    }

    /// The estimate the limit is checked against is not below what the parsed value holds:
    /// array capacity (spare room included) and object entries, counted from the value itself.
    @Test func theLimitCountsAtLeastWhatTheValueHolds() throws {
        let json = body(#"{"a":["# + String(repeating: "7,", count: 30_000) + "7]}")
        let value = try JSONParser.parse(json)
        guard case .object(let object) = value, case .array(let array)? = object["a"] else {
            Issue.record("not parsed as an object with an array")
            return
        }
        let held =
            array.capacity * MemoryLayout<JSONValue>.stride + object.count * MemoryLayout<JSONObject.Entry>.stride
        #expect(throws: JSONParseError.self, "a limit at what the value holds is exceeded by the estimate") {
            try JSONParser.parse(json, maximumCost: held)
        }
        #expect(throws: Never.self, "the estimate is within 3 times what is held") {
            try JSONParser.parse(json, maximumCost: 3 * held)
        }
    }

    /// An object of many keys is parsed with a hash index of its keys once it has 16 (each key
    /// used to be looked up in all the keys before it: 50,000 keys took 3.3 s), and a repeated
    /// key keeps its first position and takes the last value, as in a small object.
    @Test func manyKeysAreLookedUpThroughAnIndexAndRepeatsStillReplace() throws {
        let entries = (0..<20).map { JSONObject.Entry(key: "key\($0)", value: .null) }
        var index: [String: Int]?
        #expect(Reader.position(of: "key3", in: Array(entries.prefix(15)), index: &index) == 3)
        #expect(index == nil, "15 keys are scanned")
        #expect(Reader.position(of: "key17", in: entries, index: &index) == 17)
        #expect(index?.count == 20, "from 16 keys on, they are indexed once")
        #expect(Reader.position(of: "other", in: entries, index: &index) == nil)

        let keys = (0..<200_000).map { #""key\#($0)":\#($0)"# }.joined(separator: ",")
        let json = body("{" + keys + #","key5":"again","key199999":"last"}"#)
        let object = try #require(try JSONParser.parse(json).objectValue)
        #expect(object.count == 200_000)
        #expect(object.keys[5] == "key5" && object["key5"] == .string("again"))
        #expect(object.keys.last == "key199999" && object["key199999"] == .string("last"))
    }
}
