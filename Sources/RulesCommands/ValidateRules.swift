import ArgumentParser
import BrokerCLISupport
import Foundation
import RoutingRules

extension DiagnosticFormat: ExpressibleByArgument {}

/// `broker validate-rules`: every problem in a rule set, in a form editors and CI understand.
public struct ValidateRules: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "validate-rules",
        abstract: "Check rule files and report every problem as file:line:column.",
        discussion: """
            Exit status: 0 when the rules are valid, 1 when they are not (or, with --strict, when \
            there are warnings), 2 for a usage or I/O error. Directories load all their *.yaml \
            and *.yml files in name order, as one rule set.
            """
    )

    @Argument(help: "Rule files or directories (together they form one rule set).")
    var paths: [String] = ["rules"]

    @Option(help: "Output format: text, json or github (workflow annotations).")
    var format: DiagnosticFormat = .text

    @Flag(help: "Treat warnings as errors.")
    var strict = false

    @Flag(name: .shortAndLong, help: "Print nothing when the rules are valid.")
    var quiet = false

    @Flag(
        help:
            "Print how long each stage took, next to libyaml's own parse of the same files (measured in the same run), to standard error."
    )
    var timings = false

    public init() {}

    public func run() throws {
        let result: RuleSetLoadResult
        var stages = LoadTimings()
        let clock = ContinuousClock()
        let started = clock.now
        let sources: [RuleSource]
        do {
            sources = try RuleSetLoader.readSources(paths)
        } catch {
            printError("error: \(error)")
            throw ExitCode(Status.usage)
        }
        let read = clock.now - started
        result = RuleSetLoader().load(sources, timings: &stages)
        if timings { printTimings(stages, read: read, sources: sources) }
        let failed = !result.isAcceptable(strict: strict)
        let rendered = format.render(result.diagnostics, valid: !failed)
        if !rendered.isEmpty && (format != .text || !result.diagnostics.isEmpty) { print(rendered) }
        if format == .text && !quiet {
            let summary = "\(result.errors.count) error(s), \(result.warnings.count) warning(s)"
            if let ruleSet = result.ruleSet, !failed {
                printError(
                    "valid: \(ruleSet.routeNames.count) routes in \(ruleSet.files.count) file(s), rule set \(ruleSet.hash.prefix(12)); \(summary)"
                )
            } else {
                printError("invalid: \(summary)")
            }
        }
        if failed { throw ExitCode(Status.failed) }
    }

    /// The stages, and libyaml alone on the same bytes (the floor), on standard error.
    private func printTimings(_ stages: LoadTimings, read: Duration, sources: [RuleSource]) {
        let clock = ContinuousClock()
        let started = clock.now
        let events = sources.reduce(0) { $0 + YAMLBaseline.eventCount($1.bytes) }
        let baseline = clock.now - started
        func ms(_ duration: Duration) -> String {
            let value = Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
            return String(format: "%8.1f ms", value)
        }
        let ratio = baseline > .zero ? String(format: "%.1f", stages.total / baseline) : "-"
        let passes = stages.passes.map {
            "\n    \($0.name.padding(toLength: 19, withPad: " ", startingAt: 0))\(ms($0.duration))"
        }
        printError(
            """
            timings (\(sources.count) file(s), \(stages.bytes) bytes):
              read files           \(ms(read))
              YAML tree            \(ms(stages.yamlTree))
              rule syntax          \(ms(stages.syntax))
              compile              \(ms(stages.compile))\(passes.joined())
              hash, sort, free     \(ms(stages.other))
              load in all          \(ms(stages.total))  (\(ratio)× libyaml alone)
              libyaml alone        \(ms(baseline))  (\(events) events, the same bytes, this run)
              peak memory          \(Self.peakResidentMegabytes()) MB  (the whole process, resident)
            """)
    }

    /// The most memory the process has had resident so far, in megabytes.
    static func peakResidentMegabytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss / 1024  // kilobytes on Linux
    }
}
