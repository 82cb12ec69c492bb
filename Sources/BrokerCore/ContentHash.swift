/// A 64-bit hash of what a JSON value says, not of how it is written: object key order,
/// whitespace, string escapes and number spelling (`1.0`, `1e0`) do not change it. Two peers
/// that re-serialise the same message (a Python `json.dumps` and the broker's writer) agree on it.
extension JSONValue {
    public var contentHash: UInt64 {
        var hasher = ContentHasher()
        hasher.combine(self)
        return hasher.value
    }
}

extension JSONObject {
    /// ``JSONValue/contentHash`` of the object.
    public var contentHash: UInt64 {
        var hasher = ContentHasher()
        hasher.combine(self)
        return hasher.value
    }
}

/// FNV-1a over a canonical walk of the value; objects combine their entries' hashes with an
/// order-independent sum.
struct ContentHasher {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func byte(_ byte: UInt8) {
        value ^= UInt64(byte)
        value = value &* 0x0000_0100_0000_01B3
    }

    mutating func word(_ word: UInt64) {
        var w = word
        for _ in 0..<8 {
            byte(UInt8(truncatingIfNeeded: w))
            w >>= 8
        }
    }

    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { for b in $0 { byte(b) } }
        byte(0xFF)  // never inside UTF-8: ends the string
    }

    mutating func combine(_ value: JSONValue) {
        switch value {
        case .null: byte(0)
        case .bool(let b): byte(b ? 2 : 1)
        case .number(let n):
            if let double = n.doubleValue, double.isFinite {
                byte(3)
                word((double == 0 ? 0 : double).bitPattern)  // -0 and 0 are the same number
            } else {
                byte(4)
                string(n.literal)
            }
        case .string(let s):
            byte(5)
            string(s)
        case .array(let items):
            byte(6)
            for item in items { combine(item) }
            byte(7)
        case .object(let object): combine(object)
        }
    }

    mutating func combine(_ object: JSONObject) {
        var sum: UInt64 = 0
        for entry in object {
            var entryHasher = ContentHasher()
            entryHasher.string(entry.key)
            entryHasher.combine(entry.value)
            sum = sum &+ StableHash.mix(entryHasher.value)
        }
        byte(8)
        word(sum)
        word(UInt64(object.count))
    }
}
