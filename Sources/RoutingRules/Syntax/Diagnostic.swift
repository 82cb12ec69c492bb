/// A position in a rule file: 1-based line and column (columns count Unicode scalars).
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }

    public static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
        (lhs.file, lhs.line, lhs.column) < (rhs.file, rhs.line, rhs.column)
    }
}

/// One problem found in a rule set.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    /// How serious a problem is.
    public enum Severity: String, Sendable, Hashable, Comparable {
        case warning
        case error

        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs == .warning && rhs == .error }
    }

    /// A second place that explains a diagnostic (where a duplicated key was first set, where
    /// an unclosed bracket opened).
    public struct Note: Sendable, Hashable, CustomStringConvertible {
        public var location: SourceLocation
        public var message: String

        public init(location: SourceLocation, message: String) {
            self.location = location
            self.message = message
        }

        /// `file:line:column: note: message`.
        public var description: String { "\(location): note: \(message)" }
    }

    public var severity: Severity
    public var location: SourceLocation
    public var message: String
    public var notes: [Note]

    public init(_ severity: Severity, _ location: SourceLocation, _ message: String, notes: [Note] = []) {
        self.severity = severity
        self.location = location
        self.message = message
        self.notes = notes
    }

    /// `file:line:column: error: message`, the form compilers use and editors understand, with
    /// each note on a line of its own after it.
    public var description: String {
        (["\(location): \(severity.rawValue): \(message)"] + notes.map(\.description)).joined(separator: "\n")
    }
}

/// Collects diagnostics while a rule set is loaded and checked.
struct DiagnosticSink {
    private(set) var diagnostics: [Diagnostic] = []

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    mutating func error(_ location: SourceLocation, _ message: String, notes: [Diagnostic.Note] = []) {
        diagnostics.append(Diagnostic(.error, location, message, notes: notes))
    }

    mutating func warning(_ location: SourceLocation, _ message: String) {
        diagnostics.append(Diagnostic(.warning, location, message))
    }

    mutating func append(contentsOf other: [Diagnostic]) { diagnostics.append(contentsOf: other) }
}

/// Suggestions for misspelt names.
/// "Did you mean" suggestions for unknown names in rule files, config files and registries.
public enum Suggestion {
    /// Words that other routing and policy tools use for what the rule language calls
    /// otherwise (the value), lower-cased. Consulted before spelling distance: `equals` is not a
    /// typo of `eq`, but it is what someone who wrote it meant.
    static let aliases: [String: String] = [
        // operators
        "equals": "eq", "equal": "eq", "is": "eq", "==": "eq", "=": "eq",
        "not_equals": "ne", "not_equal": "ne", "neq": "ne", "!=": "ne", "is_not": "ne",
        "regex": "matches", "regexp": "matches", "match": "matches", "re": "matches", "=~": "matches",
        "starts_with": "prefix", "startswith": "prefix", "begins_with": "prefix",
        "ends_with": "suffix", "endswith": "suffix", "includes": "contains", "has": "contains",
        "one_of": "in", "any_of": "in", "nin": "not_in", "none_of": "not_in",
        "less_than": "lt", "<": "lt", "lte": "le", "<=": "le", "greater_than": "gt", ">": "gt",
        "gte": "ge", ">=": "ge", "present": "exists", "exist": "exists",
        "newer_than": "within", "since": "within", "equals_field": "same_as",
        // route keys
        "if": "when", "condition": "when", "match_on": "when", "where": "when",
        "fallback": "otherwise", "else": "otherwise", "unset": "remove", "delete": "remove",
        "destination": "output", "to": "output", "dlq": "dead_letter", "reject": "dead_letter",
        "discard": "drop", "forward": "deliver",
        // strategies
        "roundrobin": "round_robin", "rr": "round_robin", "least_loaded": "least",
        "min": "least", "max": "most", "consistent_hash": "hash", "sticky": "hash",
        "shuffle": "random", "any": "random",
        // subjects and agent fields
        "msg": "message", "from": "sender", "source": "sender", "recipient": "receiver",
        "target": "receiver", "is_online": "online", "status": "online", "id": "agent_id",
        "name": "agent_name", "lastseen": "last_seen", "metric": "metrics",
    ]

    /// The closest of `candidates` to `word`, when it is close enough to be a likely typo (or
    /// the name the language uses for a word from another tool's vocabulary).
    static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        let lowered = word.lowercased()
        let candidates = Array(candidates)
        if let alias = aliases[lowered], candidates.contains(alias) { return alias }
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            let limit = max(1, min(3, candidate.count / 3))
            if distance <= limit, best == nil || distance < best!.1 { best = (candidate, distance) }
        }
        return best?.0
    }

    /// "; did you mean 'x'?" or an empty string.
    public static func didYouMean(_ word: String, in candidates: some Sequence<String>) -> String {
        closest(to: word, in: candidates).map { "; did you mean '\($0)'?" } ?? ""
    }

    /// Edits between `a` and `b`: insertions, deletions, substitutions and swaps of two
    /// neighbours (`whne` is one edit from `when`), each counting one.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var beforePrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], beforePrevious[j - 2] + 1)
                }
            }
            (beforePrevious, previous, current) = (previous, current, beforePrevious)
        }
        return previous[b.count]
    }
}
