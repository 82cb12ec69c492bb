import ArgumentParser
import BrokerCLISupport
import RulesCommands

/// `broker-rules`: the rules toolchain alone (the same commands as `broker validate-rules`,
/// `broker test-rules`, `broker explain` and `broker diff-rules`), built from the rule engine and the argument parser
/// only, for CI jobs that check rule changes.
@main
struct BrokerRules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker-rules",
        abstract: "Check, test, explain and compare broker routing rules (the rules toolchain of broker, on its own).",
        discussion: """
            The same commands and exit statuses as broker validate-rules, broker test-rules, broker explain and broker diff-rules; \
            this executable depends on the rule engine only, so it builds in seconds where broker takes minutes.
            """,
        subcommands: RulesToolchain.commands
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            // Usage errors exit 2, as broker's do (ArgumentParser would use 64).
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                exit(withError: ExitCode(Status.usage))
            }
            exit(withError: error)
        }
    }
}
