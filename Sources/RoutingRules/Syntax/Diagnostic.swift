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
enum Suggestion {
    /// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
    static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(word.lowercased(), candidate.lowercased())
            let limit = max(1, min(3, candidate.count / 3))
            if distance <= limit, best == nil || distance < best!.1 { best = (candidate, distance) }
        }
        return best?.0
    }

    /// " (did you mean 'x'?)" or an empty string.
    static func didYouMean(_ word: String, in candidates: some Sequence<String>) -> String {
        closest(to: word, in: candidates).map { "; did you mean '\($0)'?" } ?? ""
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
