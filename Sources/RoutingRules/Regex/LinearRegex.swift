/// A regular expression matched in time linear in the input, whatever the pattern.
///
/// Rules are written by people and evaluated on every message, so `matches` must never
/// backtrack catastrophically: patterns compile to a Thompson NFA that a Pike VM simulates,
/// one step per input scalar. Features that need backtracking (backreferences, lookaround)
/// are refused at load time with a clear error. `matches` searches: the pattern may match
/// anywhere in the text unless anchored with `^`/`$`.
public struct LinearRegex: Sendable, CustomStringConvertible {
    /// The most NFA instructions a pattern may compile to.
    public static let maximumProgramSize = 20_000
    /// How many automaton steps pass between two looks at a deadline (about a millisecond).
    static let deadlineInterval = 1 << 16

    /// The pattern as written.
    public let pattern: String
    private let program: [Instruction]

    /// Compiles `pattern`.
    ///
    /// - Throws: ``RegexError`` for syntax errors, unsupported features, or a pattern that
    ///   compiles to more than ``maximumProgramSize`` instructions.
    public init(_ pattern: String) throws(RegexError) {
        self.pattern = pattern
        let node = try RegexParser.parse(pattern)
        var compiler = RegexCompiler()
        try compiler.emit(node, caseless: false)
        compiler.program.append(.match)
        program = compiler.program
    }

    public var description: String { pattern }

    /// The automaton steps (instructions) the pattern compiled to: what it costs in memory
    /// (24 bytes each) and, per input character, at most in time.
    public var programSize: Int { program.count }

    /// Whether the pattern matches somewhere in `text`.
    ///
    /// With a `deadline`, gives up (answering `false`) once it has passed: checked every
    /// ``deadlineInterval`` steps of the automaton.
    public func matches(_ text: String, deadline: EvaluationDeadline? = nil) -> Bool {
        if let deadline, deadline.hasPassed { return false }
        let count = program.count
        var work = 0
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: count * 5 + 4) { buffer in
            var current = ThreadList(base: buffer.baseAddress!, capacity: count)
            var next = ThreadList(base: buffer.baseAddress! + count, capacity: count)
            let marks = buffer.baseAddress! + 2 * count  // generation mark per instruction
            let stack = marks + count  // ε-closure work list, at most 2 × count + 2
            for i in 0..<count { marks[i] = -1 }
            var generation: Int32 = 0
            var previous: Unicode.Scalar? = nil
            var iterator = text.unicodeScalars.makeIterator()
            var scalar = iterator.next()
            while true {
                // Unanchored search: a new thread starts at every position.
                if addThread(
                    0, to: &current, marks: marks, generation: generation, stack: stack,
                    previous: previous, next: scalar)
                {
                    return true
                }
                guard let input = scalar else { return false }
                if let deadline {
                    work &+= current.count + 1
                    if work >= Self.deadlineInterval {
                        work = 0
                        if deadline.check() { return false }
                    }
                }
                let following = iterator.next()
                generation += 1
                next.count = 0
                for i in 0..<current.count {
                    let pc = Int(current.base[i])
                    let advances: Bool
                    switch program[pc] {
                    case .scalar(let s): advances = s == input
                    case .scalarPair(let a, let b): advances = a == input || b == input
                    case .set(let set, let caseless): advances = set.contains(input, caseless: caseless)
                    case .any(let dotAll): advances = dotAll || input != "\n"
                    default: advances = false
                    }
                    if advances,
                        addThread(
                            pc + 1, to: &next, marks: marks, generation: generation, stack: stack,
                            previous: input, next: following)
                    {
                        return true
                    }
                }
                swap(&current, &next)
                previous = input
                scalar = following
            }
        }
    }

    /// Follows the ε-transitions from `start`, adding consuming instructions to `list`;
    /// returns `true` when a `match` is reached.
    private func addThread(
        _ start: Int, to list: inout ThreadList, marks: UnsafeMutablePointer<Int32>, generation: Int32,
        stack: UnsafeMutablePointer<Int32>, previous: Unicode.Scalar?, next: Unicode.Scalar?
    ) -> Bool {
        var depth = 0
        stack[0] = Int32(start)
        depth = 1
        while depth > 0 {
            depth -= 1
            let pc = Int(stack[depth])
            if marks[pc] == generation { continue }
            marks[pc] = generation
            switch program[pc] {
            case .match: return true
            case .jump(let target):
                stack[depth] = Int32(target)
                depth += 1
            case .split(let first, let second):
                stack[depth] = Int32(second)
                stack[depth + 1] = Int32(first)
                depth += 2
            case .assert(let assertion):
                if Self.holds(assertion, previous: previous, next: next) {
                    stack[depth] = Int32(pc + 1)
                    depth += 1
                }
            default:
                list.base[list.count] = Int32(pc)
                list.count += 1
            }
        }
        return false
    }

    private static func holds(_ assertion: RegexAssertion, previous: Unicode.Scalar?, next: Unicode.Scalar?) -> Bool {
        switch assertion {
        case .start: return previous == nil
        case .end: return next == nil
        case .wordBoundary, .notWordBoundary:
            let before = previous.map(ScalarClass.isWord) ?? false
            let after = next.map(ScalarClass.isWord) ?? false
            return (before != after) == (assertion == .wordBoundary)
        }
    }
}

private struct ThreadList {
    let base: UnsafeMutablePointer<Int32>
    var count = 0
    init(base: UnsafeMutablePointer<Int32>, capacity: Int) { self.base = base }
}

enum Instruction: Sendable {
    case scalar(Unicode.Scalar)
    case scalarPair(Unicode.Scalar, Unicode.Scalar)
    case set(ScalarSet, caseless: Bool)
    case any(dotAll: Bool)
    case split(Int, Int)
    case jump(Int)
    case assert(RegexAssertion)
    case match
}

/// Compiles a `RegexNode` into Pike VM instructions.
struct RegexCompiler {
    var program: [Instruction] = []

    mutating func emit(_ node: RegexNode, caseless: Bool) throws(RegexError) {
        guard program.count < LinearRegex.maximumProgramSize else {
            throw RegexError(
                message:
                    "pattern is too large (more than \(LinearRegex.maximumProgramSize) steps after expanding repetitions)",
                offset: 0)
        }
        switch node {
        case .empty: break
        case .scalar(let s):
            if caseless {
                let variants = RegexCase.variants(of: s)
                if variants.count == 1 {
                    program.append(.scalar(s))
                } else if variants.count == 2 {
                    program.append(.scalarPair(variants[0], variants[1]))
                } else {
                    program.append(.set(ScalarSet(ranges: variants.map { $0.value...$0.value }), caseless: false))
                }
            } else {
                program.append(.scalar(s))
            }
        case .set(let set): program.append(.set(set, caseless: caseless))
        case .any(let dotAll): program.append(.any(dotAll: dotAll))
        case .assertion(let assertion): program.append(.assert(assertion))
        case .caseless(let inner): try emit(inner, caseless: true)
        case .concat(let items):
            for item in items { try emit(item, caseless: caseless) }
        case .alternate(let branches):
            var jumps: [Int] = []
            for (i, branch) in branches.enumerated() {
                if i < branches.count - 1 {
                    let split = program.count
                    program.append(.split(split + 1, -1))
                    try emit(branch, caseless: caseless)
                    jumps.append(program.count)
                    program.append(.jump(-1))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emit(branch, caseless: caseless)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repeatNode(let inner, let min, let max):
            for _ in 0..<min { try emit(inner, caseless: caseless) }
            if let max {
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(program.count)
                    program.append(.split(program.count + 1, -1))
                    try emit(inner, caseless: caseless)
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            } else {
                let split = program.count
                program.append(.split(split + 1, -1))
                try emit(inner, caseless: caseless)
                program.append(.jump(split))
                program[split] = .split(split + 1, program.count)
            }
        }
    }
}
