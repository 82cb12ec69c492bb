import ArgumentParser
import BrokerCLISupport
import Foundation

/// What `broker` and `broker-dev` do with their command line: `run --config FILE` expanded,
/// the command parsed and run, and the exit statuses the CLI promises (2 for a usage error,
/// where ArgumentParser would use 64).
public enum CommandLineMain {
    /// Parses the process's arguments as `root`'s and runs the command; never returns.
    public static func run(_ root: any ParsableCommand.Type) async -> Never {
        do {
            let arguments: [String]
            do {
                arguments = try ConfigFile.expand(Array(CommandLine.arguments.dropFirst()))
            } catch let error as ConfigFileError {
                // Located like every other diagnostic, without a usage line: the command line is fine.
                printError(error.message)
                exit(2)
            }
            var command = try root.parseAsRoot(arguments)
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch {
            if root.exitCode(for: error) == .validationFailure {
                printError(root.fullMessage(for: error))
                exit(2)
            }
            root.exit(withError: error)
        }
    }
}
