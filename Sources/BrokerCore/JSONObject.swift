/// A JSON object whose keys keep their order.
///
/// Setting a key that exists replaces its value in place; setting a new key appends it, as a
/// Python `dict` does. Messages have a handful of keys, so lookups scan a small array, which
/// is faster than hashing and allocates nothing.
public struct JSONObject: Sendable, Hashable, RandomAccessCollection {
    /// One key and its value.
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: JSONValue

        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// The entries in order.
    public private(set) var entries: [Entry]

    /// Creates an empty object.
    public init() { entries = [] }

    /// Creates an object from key/value pairs; a repeated key keeps its first position and
    /// its last value, as JSON parsers conventionally do.
    public init(_ pairs: some Sequence<(String, JSONValue)>) {
        entries = []
        for (key, value) in pairs { self[key] = value }
    }

    /// Creates an object from entries whose keys are known to be distinct.
    init(uniqueEntries: [Entry]) { entries = uniqueEntries }

    public var startIndex: Int { entries.startIndex }
    public var endIndex: Int { entries.endIndex }
    public subscript(position: Int) -> Entry { entries[position] }

    /// The keys in order.
    public var keys: [String] { entries.map(\.key) }

    /// The position of `key`, if present.
    @inlinable public func index(forKey key: String) -> Int? {
        entries.firstIndex { $0.key == key }
    }

    /// The value for `key`; assigning `nil` removes the key.
    public subscript(key: String) -> JSONValue? {
        @inlinable get {
            for entry in entries where entry.key == key { return entry.value }
            return nil
        }
        set {
            if let position = index(forKey: key) {
                if let newValue {
                    entries[position].value = newValue
                } else {
                    entries.remove(at: position)
                }
            } else if let newValue {
                entries.append(Entry(key: key, value: newValue))
            }
        }
    }

    /// Removes `key` and returns its value.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let position = index(forKey: key) else { return nil }
        return entries.remove(at: position).value
    }

    /// Reserves room for `count` entries.
    public mutating func reserveCapacity(_ count: Int) { entries.reserveCapacity(count) }

    /// The value found by following `path` through nested objects.
    @inlinable
    public func value(at path: [String]) -> JSONValue? {
        if path.count == 1 { return self[path[0]] }
        guard let first = path.first, var current = self[first] else { return nil }
        for key in path.dropFirst() {
            guard case .object(let object) = current, let child = object[key] else { return nil }
            current = child
        }
        return current
    }
}
