import ArgumentParser
import BrokerCLISupport
import BrokerDaemon
import BrokerTransports
import Logging
import Metrics
import UnixSignals

/// The transports a `broker run` offers, chosen by the URL's scheme.
public protocol TransportCatalog {
    /// The transports for `options` (how RabbitMQ declares queues, the confirm timeout, …).
    static func factory(for options: RunOptions) -> TransportFactory
}

/// The product's transports: RabbitMQ (`amqp://`, `amqps://`).
public enum StandardTransports: TransportCatalog {
    public static func factory(for options: RunOptions) -> TransportFactory {
        .standard(queues: options.rabbitmq.queueSettings, confirmTimeout: options.rabbitmq.confirmDuration)
    }
}

/// `broker run`: the daemon, on the transports of `Transports` (`broker-dev run` adds the
/// in-memory queues of the demo and the tests).
public struct RunCommand<Transports: TransportCatalog>: AsyncParsableCommand {
    public init() {}

    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "run",
            abstract: "Run the broker: agent-server link, messages in and out, rules with hot reload, admin HTTP.",
            discussion: """
                Environment: WEBSOCKET_URL, BROKER_NAME, BROKER_RULES, BROKER_TRANSPORT or RABBITMQ_URL (or the original broker's RABBITMQ_HOST and RABBITMQ_PORT), BROKER_ADMIN_TOKEN. Flags override them.

                Signals: SIGHUP reloads the rules; SIGTERM or SIGINT stop consuming, finish and confirm what is in flight, acknowledge it, and exit 0 (1 when the --drain-timeout passed first; a second signal exits at once). Rule files are also reloaded when they change on disk, and on POST /-/reload.

                Nothing is consumed before the registry holds the agent server's list (--registry FILE: at once). Invalid rules or options at start-up: exit 2 with the diagnostics; an invalid edit later keeps the rules in force.
                """
        )
    }

    @OptionGroup var options: RunOptions

    @Flag(
        help:
            "Print the most memory the broker can take with these options, term by term, and exit (size a container's memory limit above it)."
    )
    var memoryBudget = false

    public func run() async throws {
        if memoryBudget {
            print(MemoryBudget(options))
            return
        }
        // SIGTERM and SIGINT trapped first: one that comes while the daemon starts is not lost.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        MemoryBudget.returnLargeBlocksAtOnce()
        options.bootstrapLogging()
        let daemon: Daemon
        do {
            daemon = try BrokerRunner.daemon(
                options, transports: Transports.factory(for: options), handlesSignals: true)
        } catch let failure as BrokerRunner.StartFailure {
            printError(failure.description)
            throw ExitCode(failure.status)
        }
        // Metrics that libraries emit go to the same registry as the broker's own.
        MetricsSystem.bootstrap(daemon.metrics.factory)
        switch await ShutdownSupervisor.run(daemon, signals: signals, logger: Logger(label: "broker")) {
        case .finished: return
        case .failed(let error):
            printError("error: \(error)")
            throw ExitCode(Status.failed)
        case .secondSignal, .overdue: throw ExitCode(Status.failed)
        }
    }
}
