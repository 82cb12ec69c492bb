import ArgumentParser
import BrokerCLISupport
import BrokerCore
import RoutingRules

/// Loads a rule set for a command; on any problem prints the diagnostics and exits with 2.
func loadRuleSet(_ path: String, annotating: Bool = false) throws -> RuleSet {
    let loaded: RuleSetLoadResult
    do {
        loaded = try RuleSetLoader().load(paths: [path])
    } catch {
        printError("error: \(error)")
        throw ExitCode(Status.usage)
    }
    guard let ruleSet = loaded.ruleSet else {
        report(loaded.errors, annotating: annotating)
        throw ExitCode(Status.usage)
    }
    return ruleSet
}

/// Prints diagnostics: as GitHub workflow commands on standard output when `annotating`, else
/// as `file:line:column: error: …` lines on standard error.
func report(_ diagnostics: [Diagnostic], annotating: Bool) {
    if annotating {
        print(DiagnosticFormat.github.render(diagnostics, valid: false))
    } else {
        for diagnostic in diagnostics { printError(diagnostic.description) }
    }
}

/// Loads a registry snapshot file for a command; on any problem prints it and exits with 2.
func loadRegistry(_ path: String) throws -> AgentRegistry.Snapshot {
    guard let data = readFile(path) else {
        printError("error: \(path): cannot read file")
        throw ExitCode(Status.usage)
    }
    do {
        return try YAMLData.registry([UInt8](data), name: path)
    } catch {
        printError(error.description)
        throw ExitCode(Status.usage)
    }
}
