import ArgumentParser
import BrokerCore
import Dispatch
import Foundation
import RoutingRules
import Synchronization

/// The `broker` command.
struct Broker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "A declarative message router for multi-agent systems.",
        discussion: """
            Routing decisions come from YAML rule files. Check them with validate-rules, test
            them with test-rules, and see why a message goes where it goes with explain.
            """,
        subcommands: [
            Run.self, Demo.self, ValidateRules.self, TestRules.self, Explain.self, Route.self, SimulateServer.self,
            Bench.self, BenchStatus.self, BenchReload.self,
        ]
    )
}

@main
enum BrokerMain {
    static func main() {
        do {
            var command = try Broker.parseAsRoot(try ConfigFile.expand(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch {
            let code = Broker.exitCode(for: error)
            // Usage errors exit 2, as the CLI promises (ArgumentParser would use 64).
            if code == .validationFailure {
                FileHandle.standardError.write(Data((Broker.fullMessage(for: error) + "\n").utf8))
                exit(2)
            }
            Broker.exit(withError: error)
        }
    }
}

/// Writes a line to standard output unbuffered, so it reaches a pipe or a log at once.
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// Writes to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// The exit statuses of the rules commands.
enum Status {
    static let ok: Int32 = 0
    static let failed: Int32 = 1
    static let usage: Int32 = 2
}

/// The contents of a file (also works for pipes such as /dev/fd/N).
func readFile(_ path: String) -> Data? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    return try? handle.readToEnd() ?? Data()
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
            fromFile += ["--" + entry.key, entry.value.templateText]
        }
        var rest = arguments
        rest.removeSubrange(index...(index + 1))
        return [rest[0]] + fromFile + rest.dropFirst()
    }
}

/// Runs `body` to completion from a synchronous command's `run()`, rethrowing its error.
func runToCompletion(_ body: sending @escaping () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    let failure = Mutex<(any Error)?>(nil)
    Task {
        do { try await body() } catch { failure.withLock { $0 = error } }
        done.signal()
    }
    done.wait()
    if let error = failure.withLock({ $0 }) { throw error }
}
