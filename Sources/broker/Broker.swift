import ArgumentParser
import BrokerCLISupport
import BrokerCore
import BrokerDaemon
import BrokerDevTools
import Foundation
import RoutingRules

/// The `broker` command.
struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "A declarative message router for multi-agent systems.",
        discussion: """
            Routing decisions come from YAML rule files. Check them with validate-rules, test them with test-rules, and see why a message goes where it goes with explain. run is the daemon; demo, simulate-server and the bench commands are for trying and measuring it.
            """,
        version: BuildInfo.versionLine,
        subcommands: [Run.self, ValidateRules.self, TestRules.self, Explain.self] + DevTools.commands
    )
}

@main
enum BrokerMain {
    static func main() async {
        // A SIGHUP before `broker run` installs its handler must not kill the process.
        signal(SIGHUP, SIG_IGN)
        do {
            var command = try Broker.parseAsRoot(try ConfigFile.expand(Array(CommandLine.arguments.dropFirst())))
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            let code = Broker.exitCode(for: error)
            // Usage errors exit 2, as the CLI promises (ArgumentParser would use 64).
            if code == .validationFailure {
                printError(Broker.fullMessage(for: error))
                exit(2)
            }
            Broker.exit(withError: error)
        }
    }
}

/// Loads a rule set for a command; on any problem prints the diagnostics and exits with 2.
func loadRuleSet(_ path: String) throws -> RuleSet {
    let loaded: RuleSetLoadResult
    do {
        loaded = try RuleSetLoader().load(paths: [path])
    } catch {
        printError("error: \(error)")
        throw ExitCode(Status.usage)
    }
    guard let ruleSet = loaded.ruleSet else {
        for diagnostic in loaded.errors { printError(diagnostic.description) }
        throw ExitCode(Status.usage)
    }
    return ruleSet
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

/// `broker run --config FILE`: a YAML mapping of `run` option names to values, applied before the
/// command line (so flags given on the command line win).
enum ConfigFile {
    static func expand(_ arguments: [String]) throws -> [String] {
        guard arguments.first == "run", let index = arguments.firstIndex(of: "--config"), index + 1 < arguments.count
        else {
            return arguments
        }
        let path = arguments[index + 1]
        guard let data = readFile(path) else { throw ValidationError("cannot read the config file \(path)") }
        let value: JSONValue
        do {
            value = try YAMLData.parse([UInt8](data), name: path)
        } catch {
            throw ValidationError(error.description)
        }
        guard case .object(let settings) = value else {
            throw ValidationError("\(path): expected a mapping of option names to values")
        }
        var fromFile: [String] = []
        for entry in settings {
            guard !["config", "help"].contains(entry.key) else { continue }
            switch entry.value {
            // A flag: `watch-rules: false` is --no-watch-rules.
            case .bool(let on): fromFile.append(on ? "--" + entry.key : "--no-" + entry.key)
            default: fromFile += ["--" + entry.key, entry.value.templateText]
            }
        }
        var rest = arguments
        rest.removeSubrange(index...(index + 1))
        return [rest[0]] + fromFile + rest.dropFirst()
    }
}
