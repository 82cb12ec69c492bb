import ArgumentParser
import BrokerCLISupport
import BrokerCore
import Foundation
import RoutingRules
import Synchronization

/// `broker diff-rules OLD NEW --messages FILE.jsonl`: what a rule change does to recorded traffic.
public struct DiffRules: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "diff-rules",
        abstract: "Show how many recorded messages a rule change decides differently, and which.",
        discussion: """
            Every message of --messages (JSON Lines: the daemon's recorded decisions, from \
            /decisions?format=jsonl or --record, or lines of original-broker-cases.jsonl) is \
            decided by OLD and by NEW with the same registry, the same random seed and the same \
            clock, so only the rules' differences show. The registry is --registry when given, \
            else, per message, the agents its record names. Exit status: 0, or 1 when more than \
            --fail-if-changed percent of the messages are decided differently; 2 on bad input.
            """
    )

    @Argument(help: "The rules in force: a rule file or directory.")
    var old: String

    @Argument(help: "The changed rules: a rule file or directory.")
    var new: String

    @Option(help: "Recorded messages, JSON Lines (- for standard input).")
    var messages: String

    @Option(help: "Registry snapshot file (YAML or JSON) to decide every message in.")
    var registry: String?

    @Option(help: "Output format: text, json, or markdown (for a pull request comment).")
    var format: DiffFormat = .text

    @Option(help: "Exit 1 when more than this percentage of the messages is decided differently.")
    var failIfChanged: Double?

    @Option(help: "Examples kept per group of changes.")
    var examples = 3

    public init() {}

    public func run() throws {
        let snapshot = try registry.map(loadRegistry)
        guard let input = messages == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: messages) else {
            printError("error: \(messages): cannot read file")
            throw ExitCode(Status.usage)
        }
        // One worker per core, each with rule sets of its own (round-robin counters are per
        // rule set: old and new see the same sequence within a worker), over batches of lines
        // merged in file order, so the report does not depend on the number of cores.
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        let copies = try (0..<workers).map { _ in (try loadRuleSet(old), try loadRuleSet(new)) }
        let settings = DiffSettings(examples: max(0, examples), now: Date())
        var diff = settings.empty
        let progress = Progress(enabled: isatty(STDERR_FILENO) == 1)
        var batch: [ArraySlice<UInt8>] = []
        var lineNumber = 0
        func flush() {
            let first = lineNumber - batch.count + 1
            diff.merge(Self.compare(batch, firstLine: first, copies: copies, registry: snapshot, settings: settings))
            batch.removeAll(keepingCapacity: true)
            progress.update(lines: lineNumber, changed: diff.changed)
        }
        try LineReader(input).forEachLine { line in
            lineNumber += 1
            batch.append(line)
            if batch.count == Self.batchSize { flush() }
        }
        flush()
        progress.finish()
        let (oldRules, newRules) = copies[0]
        let report = DiffReport(diff: diff, old: oldRules, new: newRules, lines: lineNumber)
        switch format {
        case .text: print(report.text)
        case .markdown: print(report.markdown, terminator: "")
        case .json: print(JSONWriter.string(report.json))
        }
        // A gate that compared nothing passed nothing: an empty or unreadable corpus fails.
        guard diff.compared > 0 else {
            let skipped = diff.skipped.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
            printError(
                "diff-rules: no message in \(messages) could be compared (\(lineNumber) lines\(skipped.isEmpty ? "" : ": " + skipped.joined(separator: ", ")))"
            )
            throw ExitCode(Status.failed)
        }
        if let limit = failIfChanged, diff.changedPercent > limit {
            printError(
                "diff-rules: \(DiffReport.percent(diff.changedPercent)) of the messages are decided differently, over --fail-if-changed \(limit)%"
            )
            throw ExitCode(Status.failed)
        }
    }
}

extension DiffRules {
    static let batchSize = 1 << 15

    struct DiffSettings: Sendable {
        var examples: Int
        var now: Date

        var empty: RuleDiff {
            var diff = RuleDiff()
            diff.examplesPerGroup = examples
            diff.now = now
            return diff
        }
    }

    /// The lines of one batch, split between the workers and merged back in order.
    static func compare(
        _ lines: [ArraySlice<UInt8>], firstLine: Int, copies: [(RuleSet, RuleSet)], registry: AgentRegistry.Snapshot?,
        settings: DiffSettings
    ) -> RuleDiff {
        let share = (lines.count + copies.count - 1) / max(1, copies.count)
        let parts = Mutex([RuleDiff?](repeating: nil, count: copies.count))
        DispatchQueue.concurrentPerform(iterations: copies.count) { worker in
            var diff = settings.empty
            let (old, new) = copies[worker]
            let start = worker * share
            for offset in start..<min(lines.count, start + share) {
                let line = lines[offset]
                let number = firstLine + offset
                guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { continue }
                do {
                    let record = try DecisionRecord(line: line, fallbackSeed: UInt64(number))
                    diff.compare(record, line: number, old: old, new: new, registry: registry)
                } catch {
                    diff.skip(because: "\(error)")
                }
            }
            parts.withLock { $0[worker] = diff }
        }
        var merged = settings.empty
        for part in parts.withLock({ $0 }) { if let part { merged.merge(part) } }
        return merged
    }
}

public enum DiffFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text, json, markdown
}

/// A line on a terminal that says how far a long run is (nothing when standard error is not one).
struct Progress {
    let enabled: Bool
    private let start = ContinuousClock.now

    init(enabled: Bool) { self.enabled = enabled }

    /// Called after each batch of lines.
    func update(lines: Int, changed: Int) {
        guard enabled else { return }
        let seconds = Double((ContinuousClock.now - start).components.seconds)
        FileHandle.standardError.write(
            Data("\r  \(lines) lines, \(changed) changed, \(Int(Double(lines) / max(seconds, 1))) lines/s…".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Reads a file a megabyte at a time and hands out its lines (without the newline), so a file
/// of a million recorded messages is not held in memory whole.
struct LineReader {
    let handle: FileHandle

    init(_ handle: FileHandle) { self.handle = handle }

    func forEachLine(_ body: (ArraySlice<UInt8>) throws -> Void) throws {
        var pending: [UInt8] = []
        while true {
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: 0x0A) {
                try body(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
        }
        if !pending.isEmpty { try body(pending[...]) }
    }
}
