import ArgumentParser
import BrokerApp
import BrokerCLISupport
import BrokerDaemon
import Metrics
import UnixSignals

/// `broker run`: the daemon.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the broker: agent-server link, messages in and out, rules with hot reload, admin HTTP.",
        discussion: """
            Environment: WEBSOCKET_URL, BROKER_NAME, BROKER_RULES, BROKER_TRANSPORT or RABBITMQ_URL (or the original broker's RABBITMQ_HOST and RABBITMQ_PORT), BROKER_ADMIN_TOKEN. Flags override them.

            Signals: SIGHUP reloads the rules; SIGTERM or SIGINT stop consuming, finish and confirm what is in flight, acknowledge it, and exit 0 (1 when the --drain-timeout passed first; a second signal exits at once). Rule files are also reloaded when they change on disk, and on POST /-/reload.

            Nothing is consumed before the registry holds the agent server's list (--registry FILE: at once). Invalid rules or options at start-up: exit 2 with the diagnostics; an invalid edit later keeps the rules in force.
            """
    )

    @OptionGroup var options: RunOptions

    @Flag(
        help:
            "Print the most memory the broker can take with these options, term by term, and exit (size a container's memory limit above it)."
    )
    var memoryBudget = false

    func run() async throws {
        if memoryBudget {
            print(MemoryBudget(options))
            return
        }
        // Signal handling first: a SIGTERM or SIGHUP from now on is queued, not lost.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup)
        MemoryBudget.returnLargeBlocksAtOnce()
        options.bootstrapLogging()
        let daemon: Daemon
        do {
            daemon = try BrokerRunner.daemon(options)
        } catch let failure as BrokerRunner.StartFailure {
            printError(failure.description)
            throw ExitCode(failure.status)
        }
        // Metrics that libraries emit go to the same registry as the broker's own.
        MetricsSystem.bootstrap(daemon.metrics.factory)
        do {
            try await daemon.run(signals: signals)
        } catch {
            printError("error: \(error)")
            throw ExitCode(Status.failed)
        }
    }
}
