import ArgumentParser
import BrokerCLISupport
import Foundation
import RoutingRules

extension DiagnosticFormat: ExpressibleByArgument {}

/// `broker validate-rules`: every problem in a rule set, in a form editors and CI understand.
struct ValidateRules: ParsableCommand {
    static let configuration = CommandConfiguration(
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

    func run() throws {
        let result: RuleSetLoadResult
        do {
            result = try RuleSetLoader().load(paths: paths)
        } catch {
            printError("error: \(error)")
            throw ExitCode(Status.usage)
        }
        let failed = !result.errors.isEmpty || (strict && !result.warnings.isEmpty)
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
}
