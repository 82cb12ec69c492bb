import BrokerCore
import Testing

@Suite(.timeLimit(.minutes(10))) struct JSONTests {
    @Test func roundTripKeepsKeyOrderAndNumberLiterals() throws {
        let text =
            #"{"z":1,"a":{"y":[1.50,-0,2e10,true,null]},"m":"é \"q\" \\ \n\u0001","big":123456789012345678901234}"#
        let value = try JSONParser.parse(text)
        #expect(
            JSONWriter.string(value)
                == #"{"z":1,"a":{"y":[1.50,-0,2e10,true,null]},"m":"é \"q\" \\ \n\u0001","big":123456789012345678901234}"#
        )
    }

    @Test func settingKeysReplacesInPlaceOrAppends() {
        var object = JSONObject([("a", 1), ("b", 2)])
        object["a"] = "x"
        object["c"] = 3
        object["b"] = nil
        #expect(object.keys == ["a", "c"])
        #expect(JSONWriter.string(.object(object)) == #"{"a":"x","c":3}"#)
    }

    @Test func invalidInputIsRejectedWithAPosition() {
        for bad in ["{not json", "[1,2,]", #"{"a":1,}"#, "'x'", #""\ud800""#, "01", "{\"a\" 1}", "[1] x", "\"\u{01}\""]
        {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONParser.parse(bad) }
        }
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
    }

    @Test func messagesMustBeObjectsWithinTheSizeLimit() {
        #expect(throws: MessageDecodingError.notAnObject(kind: "array")) {
            try Message(decoding: Array("[1,2,3]".utf8))
        }
        #expect(throws: MessageDecodingError.tooLarge(size: 20, limit: 10)) {
            try Message(decoding: Array(#"{"a":"0123456789ab"}"#.utf8), maximumSize: 10)
        }
        do {
            _ = try Message(decoding: Array("{not json".utf8))
        } catch {
            #expect(error.reasonCode == "invalid_json")
        }
    }
}
