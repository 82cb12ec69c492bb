/// `contains` on text: whether a fixed needle occurs in a text, in time linear in the text
/// whatever the needle (Knuth–Morris–Pratt over UTF-8, the table built once when the rules are
/// compiled).
///
/// A generic substring search compares the needle at every position of the text, which is
/// quadratic when both are long and alike (a 50 KB needle in a 100 KB message took two
/// minutes). Matching is by code point, as the original Python broker's `in` is: UTF-8 is
/// self-synchronising, so a byte match is a code-point match.
struct TextSearch: Sendable {
    let needle: [UInt8]
    /// For each prefix of the needle, the length of its longest proper prefix that is also a suffix.
    private let fallback: [Int32]

    init(_ needle: String) {
        let bytes = Array(needle.utf8)
        var fallback = [Int32](repeating: 0, count: bytes.count)
        var matched = 0
        for i in bytes.indices.dropFirst() {
            while matched > 0 && bytes[i] != bytes[matched] { matched = Int(fallback[matched - 1]) }
            if bytes[i] == bytes[matched] { matched += 1 }
            fallback[i] = Int32(matched)
        }
        self.needle = bytes
        self.fallback = fallback
    }

    /// Whether the needle occurs in `text`.
    func occurs(in text: String) -> Bool {
        if needle.isEmpty { return true }
        if let found = text.utf8.withContiguousStorageIfAvailable({ scan($0) }) { return found }
        return scan(Array(text.utf8))
    }

    private func scan(_ text: some Collection<UInt8>) -> Bool {
        guard text.count >= needle.count else { return false }
        var matched = 0
        for byte in text {
            while matched > 0 && byte != needle[matched] { matched = Int(fallback[matched - 1]) }
            if byte == needle[matched] {
                matched += 1
                if matched == needle.count { return true }
            }
        }
        return false
    }
}
