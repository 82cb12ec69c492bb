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

/// A multiply-xorshift hash over a canonical walk of the value, eight bytes at a time; objects
/// combine their entries' hashes with an order-independent sum. It is local to one process (the
/// cycle detector's table), so it need not be stable across versions.
struct ContentHasher {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    @inline(__always)
    mutating func word(_ word: UInt64) {
        value = (value ^ word) &* 0x9E37_79B9_7F4A_7C15
        value ^= value >> 32
    }

    mutating func string(_ text: String) {
        if text.utf8.withContiguousStorageIfAvailable({ bytes(UnsafeRawBufferPointer($0)) }) == nil {
            var copy = text
            copy.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
        }
    }

    mutating func bytes(_ raw: UnsafeRawBufferPointer) {
        var offset = 0
        while offset + 8 <= raw.count {
            word(raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while offset < raw.count {
            tail |= UInt64(raw[offset]) << shift
            shift += 8
            offset += 1
        }
        // The length ends the string, so "ab" + "c" and "a" + "bc" differ.
        word(tail ^ UInt64(raw.count) << 56)
    }

    mutating func combine(_ value: JSONValue) {
        switch value {
        case .null: word(1)
        case .bool(let b): word(b ? 3 : 2)
        case .number(let n):
            if let double = n.doubleValue, double.isFinite {
                word(4)
                word((double == 0 ? 0 : double).bitPattern)  // -0 and 0 are the same number
            } else {
                word(5)
                string(n.literal)
            }
        case .string(let s):
            word(6)
            string(s)
        case .array(let items):
            word(7)
            for item in items { combine(item) }
            word(8)
        case .object(let object): combine(object)
        }
    }

    mutating func combine(_ object: JSONObject) {
        var sum: UInt64 = 0
        for entry in object.entries {
            var entryHasher = ContentHasher()
            entryHasher.string(entry.key)
            entryHasher.combine(entry.value)
            sum = sum &+ StableHash.mix(entryHasher.value)
        }
        word(9)
        word(sum)
        word(UInt64(object.count))
    }
}
