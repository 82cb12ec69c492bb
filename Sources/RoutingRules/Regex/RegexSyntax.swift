/// A parse error in a regular expression, with the offset (in Unicode scalars) of the problem.
public struct RegexError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public var description: String { "\(message) (at character \(offset + 1) of the pattern)" }
}

/// The parsed form of a pattern.
indirect enum RegexNode: Sendable {
    case empty
    case scalar(Unicode.Scalar)
    case set(ScalarSet)
    case any(dotAll: Bool)
    case concat([RegexNode])
    case alternate([RegexNode])
    case repeatNode(RegexNode, min: Int, max: Int?)
    case assertion(RegexAssertion)
    case caseless(RegexNode)
}

enum RegexAssertion: Sendable {
    case start, end, wordBoundary, notWordBoundary
}

/// A set of scalars: ranges plus the `\d \w \s` classes, optionally negated.
struct ScalarSet: Sendable {
    var ranges: [ClosedRange<UInt32>] = []
    var classes: [ScalarClass] = []
    var negated = false

    func contains(_ scalar: Unicode.Scalar, caseless: Bool) -> Bool {
        var found = rawContains(scalar)
        if !found && caseless {
            for variant in RegexCase.variants(of: scalar) where variant != scalar && rawContains(variant) {
                found = true
                break
            }
        }
        return found != negated
    }

    private func rawContains(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        for range in ranges where range.contains(value) { return true }
        for scalarClass in classes where scalarClass.contains(scalar) { return true }
        return false
    }
}

enum ScalarClass: Sendable {
    case digit, notDigit, word, notWord, space, notSpace

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        switch self {
        case .digit: return (0x30...0x39).contains(scalar.value)
        case .notDigit: return !(0x30...0x39).contains(scalar.value)
        case .word: return Self.isWord(scalar)
        case .notWord: return !Self.isWord(scalar)
        case .space: return Self.isSpace(scalar)
        case .notSpace: return !Self.isSpace(scalar)
        }
    }

    static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            let v = scalar.value
            return (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v) || v == 0x5F
        }
        return scalar.properties.isAlphabetic || scalar.properties.numericType == .decimal
    }

    static func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace }
}

enum RegexCase {
    /// The scalar and its simple lower/upper case forms.
    static func variants(of scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        var result = [scalar]
        for mapped in [scalar.properties.lowercaseMapping, scalar.properties.uppercaseMapping] {
            let scalars = mapped.unicodeScalars
            if scalars.count == 1, let only = scalars.first, !result.contains(only) { result.append(only) }
        }
        return result
    }
}

/// Parses the supported syntax: literals, `.`, classes, `\d \w \s \D \W \S \b \B`, anchors
/// `^ $ \A \z`, groups (capturing, `(?:…)`, named), alternation, `* + ? {n} {n,} {n,m}` (lazy
/// forms accepted), and the flags `(?i)`, `(?s)`, `(?is:…)`. Backreferences and lookaround are
/// refused: they cannot be matched in linear time.
struct RegexParser {
    static let maximumRepeat = 1000

    private let scalars: [Unicode.Scalar]
    private var position = 0
    private var caseless = false
    private var dotAll = false

    init(_ pattern: String) { scalars = Array(pattern.unicodeScalars) }

    static func parse(_ pattern: String) throws(RegexError) -> RegexNode {
        var parser = RegexParser(pattern)
        let node = try parser.parseAlternation()
        if parser.position < parser.scalars.count {
            throw parser.error("unbalanced ')'")
        }
        return node
    }

    private func error(_ message: String, at offset: Int? = nil) -> RegexError {
        RegexError(message: message, offset: offset ?? position)
    }

    private var peek: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    private mutating func parseAlternation() throws(RegexError) -> RegexNode {
        var branches = [try parseConcatenation()]
        while peek == "|" {
            position += 1
            branches.append(try parseConcatenation())
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    private mutating func parseConcatenation() throws(RegexError) -> RegexNode {
        var items: [RegexNode] = []
        while let scalar = peek, scalar != "|", scalar != ")" {
            let atomStart = position
            guard var atom = try parseAtom() else { continue }
            atom = try parseQuantifiers(atom, atomStart: atomStart)
            items.append(atom)
        }
        switch items.count {
        case 0: return .empty
        case 1: return items[0]
        default: return .concat(items)
        }
    }

    private mutating func parseQuantifiers(_ atom: RegexNode, atomStart: Int) throws(RegexError) -> RegexNode {
        var node = atom
        var quantified = false
        while let scalar = peek {
            let bounds: (Int, Int?)
            switch scalar {
            case "*":
                bounds = (0, nil)
                position += 1
            case "+":
                bounds = (1, nil)
                position += 1
            case "?":
                bounds = (0, 1)
                position += 1
            case "{":
                guard let parsed = try parseBraces() else { return node }
                bounds = parsed
            default: return node
            }
            if quantified { throw error("a quantifier cannot follow another quantifier", at: position - 1) }
            if case .assertion = node { throw error("an anchor cannot be repeated", at: atomStart) }
            if peek == "?" { position += 1 }  // lazy: same language, same yes/no answer
            if peek == "+" { throw error("possessive quantifiers are not supported") }
            node = .repeatNode(node, min: bounds.0, max: bounds.1)
            quantified = true
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}`; a `{` that does not start one is a literal.
    private mutating func parseBraces() throws(RegexError) -> (Int, Int?)? {
        let start = position
        position += 1
        guard let low = parseNumber() else {
            position = start
            return nil
        }
        var high: Int? = low
        if peek == "," {
            position += 1
            high = parseNumber()
        }
        guard peek == "}" else {
            position = start
            return nil
        }
        position += 1
        if low > Self.maximumRepeat || (high ?? 0) > Self.maximumRepeat {
            throw error("repetition count above \(Self.maximumRepeat)", at: start)
        }
        if let high, high < low { throw error("repetition range {\(low),\(high)} is backwards", at: start) }
        return (low, high)
    }

    private mutating func parseNumber() -> Int? {
        var value: Int?
        while let s = peek, (0x30...0x39).contains(s.value) {
            value = min((value ?? 0) * 10 + Int(s.value - 0x30), 1_000_000)
            position += 1
        }
        return value
    }

    private mutating func parseAtom() throws(RegexError) -> RegexNode? {
        guard let scalar = peek else { return nil }
        let start = position
        position += 1
        switch scalar {
        case ".": return wrap(.any(dotAll: dotAll))
        case "^": return .assertion(.start)
        case "$": return .assertion(.end)
        case "[": return wrap(.set(try parseClass()))
        case "(": return try parseGroup(start: start)
        case "*", "+", "?": throw error("nothing to repeat before '\(scalar)'", at: start)
        case "\\":
            let node = try parseEscape(inClass: false)
            if case .assertion = node { return node }
            return wrap(node)
        default: return wrap(.scalar(scalar))
        }
    }

    private func wrap(_ node: RegexNode) -> RegexNode { caseless ? .caseless(node) : node }

    private mutating func parseGroup(start: Int) throws(RegexError) -> RegexNode? {
        if peek == "?" {
            position += 1
            guard let next = peek else { throw error("unterminated group", at: start) }
            switch next {
            case ":":
                position += 1
            case "=", "!": throw error("lookahead is not supported (patterns must match in linear time)", at: start)
            case ">": throw error("atomic groups are not supported", at: start)
            case "P", "<":
                if next == "P" { position += 1 }
                if peek == "=" { throw error("backreferences are not supported", at: start) }
                guard peek == "<" else { throw error("invalid group syntax", at: start) }
                position += 1
                if peek == "=" || peek == "!" {
                    throw error("lookbehind is not supported (patterns must match in linear time)", at: start)
                }
                while let s = peek, s != ">" { position += 1 }
                guard peek == ">" else { throw error("unterminated group name", at: start) }
                position += 1
            default:
                return try parseFlags(start: start)
            }
        }
        let saved = (caseless, dotAll)
        let inner = try parseAlternation()
        (caseless, dotAll) = saved
        guard peek == ")" else { throw error("missing ')'", at: start) }
        position += 1
        return inner
    }

    /// `(?i)` (flags for the rest of the enclosing group) or `(?i:…)`.
    private mutating func parseFlags(start: Int) throws(RegexError) -> RegexNode? {
        var on = true
        var newCaseless = caseless
        var newDotAll = dotAll
        while let s = peek, s != ")", s != ":" {
            switch s {
            case "i": newCaseless = on
            case "s": newDotAll = on
            case "m", "x", "u": break
            case "-": on = false
            default: throw error("unknown flag '\(s)'")
            }
            position += 1
        }
        guard let terminator = peek else { throw error("unterminated flag group", at: start) }
        position += 1
        if terminator == ")" {
            (caseless, dotAll) = (newCaseless, newDotAll)
            return nil
        }
        let saved = (caseless, dotAll)
        (caseless, dotAll) = (newCaseless, newDotAll)
        let inner = try parseAlternation()
        (caseless, dotAll) = saved
        guard peek == ")" else { throw error("missing ')'", at: start) }
        position += 1
        return inner
    }

    private mutating func parseEscape(inClass: Bool) throws(RegexError) -> RegexNode {
        guard let scalar = peek else { throw error("pattern ends with '\\'") }
        position += 1
        switch scalar {
        case "d": return .set(ScalarSet(classes: [.digit]))
        case "D": return .set(ScalarSet(classes: [.notDigit]))
        case "w": return .set(ScalarSet(classes: [.word]))
        case "W": return .set(ScalarSet(classes: [.notWord]))
        case "s": return .set(ScalarSet(classes: [.space]))
        case "S": return .set(ScalarSet(classes: [.notSpace]))
        case "n": return .scalar("\n")
        case "t": return .scalar("\t")
        case "r": return .scalar("\r")
        case "f": return .scalar("\u{0C}")
        case "v": return .scalar("\u{0B}")
        case "0": return .scalar("\u{0}")
        case "b" where !inClass: return .assertion(.wordBoundary)
        case "B" where !inClass: return .assertion(.notWordBoundary)
        case "A" where !inClass: return .assertion(.start)
        case "z" where !inClass, "Z" where !inClass: return .assertion(.end)
        case "x": return .scalar(try parseHexEscape(digits: nil))
        case "u": return .scalar(try parseHexEscape(digits: 4))
        case "1"..."9":
            throw error("backreferences are not supported (patterns must match in linear time)", at: position - 2)
        default:
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                throw error("unknown escape '\\\(scalar)'", at: position - 2)
            }
            return .scalar(scalar)
        }
    }

    private mutating func parseHexEscape(digits fixed: Int?) throws(RegexError) -> Unicode.Scalar {
        var text = ""
        if fixed == nil, peek == "{" {
            position += 1
            while let s = peek, s != "}" {
                text.unicodeScalars.append(s)
                position += 1
            }
            guard peek == "}" else { throw error("unterminated \\x{…}") }
            position += 1
        } else {
            for _ in 0..<(fixed ?? 2) {
                guard let s = peek else { throw error("truncated hex escape") }
                text.unicodeScalars.append(s)
                position += 1
            }
        }
        guard let value = UInt32(text, radix: 16), let scalar = Unicode.Scalar(value) else {
            throw error("invalid hex escape")
        }
        return scalar
    }

    private mutating func parseClass() throws(RegexError) -> ScalarSet {
        let start = position - 1
        var set = ScalarSet()
        if peek == "^" {
            set.negated = true
            position += 1
        }
        var first = true
        while true {
            guard let scalar = peek else { throw error("missing ']'", at: start) }
            if scalar == "]" && !first {
                position += 1
                break
            }
            first = false
            let low: Unicode.Scalar
            if scalar == "\\" {
                position += 1
                switch try parseEscape(inClass: true) {
                case .scalar(let s): low = s
                case .set(let inner):
                    set.classes.append(contentsOf: inner.classes)
                    continue
                default: throw error("invalid escape in class")
                }
            } else {
                position += 1
                low = scalar
            }
            if peek == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                position += 1
                var high = scalars[position]
                position += 1
                if high == "\\" {
                    guard case .scalar(let s) = try parseEscape(inClass: true) else {
                        throw error("invalid range end in class")
                    }
                    high = s
                }
                guard low.value <= high.value else {
                    throw error("class range \(low)-\(high) is backwards", at: start)
                }
                set.ranges.append(low.value...high.value)
            } else {
                set.ranges.append(low.value...low.value)
            }
        }
        return set
    }
}
