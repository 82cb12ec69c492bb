import AMQPTransport
import ArgumentParser
import BrokerCore
import BrokerDaemon
import BrokerRouter
import BrokerTransports
import Dispatch
import Foundation
import Logging
import Synchronization

/// `broker run`: the daemon.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the broker: agent-server link, RabbitMQ in and out, rules with hot reload, admin HTTP.",
        discussion: """
            Environment: WEBSOCKET_URL, BROKER_NAME, BROKER_RULES, RABBITMQ_URL or RABBITMQ_HOST and
            RABBITMQ_PORT (see `broker route --help`), BROKER_ADMIN_TOKEN. Flags override them.
            Signals: SIGHUP reloads the rules; SIGTERM/SIGINT stop consuming, finish and confirm what is
            in flight, ack, and exit 0 (a second signal exits at once). Rule files are also reloaded
            when they change on disk, and on POST /-/reload. Invalid rules at start-up: exit 2 with the
            diagnostics; an invalid edit later keeps the rules in force.
            """
    )

    @Option(help: "YAML file of option names and values (e.g. `prefetch: 512`); command-line flags win.")
    var config: String?

    @Option(help: "Rule file or directory (env BROKER_RULES).")
    var rules: String = ProcessInfo.processInfo.environment["BROKER_RULES"] ?? "rules"

    @Option(name: .customLong("websocket-url"), help: "The agent server's WebSocket URL (env WEBSOCKET_URL).")
    var webSocketURL: String = ProcessInfo.processInfo.environment["WEBSOCKET_URL"] ?? "ws://localhost:8765/ws"

    @Option(help: "Name the broker registers under (env BROKER_NAME).")
    var brokerName: String = ProcessInfo.processInfo.environment["BROKER_NAME"] ?? "broker"

    @Option(help: "Take the registry from this snapshot file instead of the agent server.")
    var registry: String?

    @Option(help: "Queue to route from.")
    var inputQueue = "broker_input_queue"

    @Option(help: "Queue of REGISTER_AGENT / CLIENT_DISCONNECTED messages ('' to skip).")
    var metadataQueue = "agent_metadata_queue"

    @Option(help: "Most unacknowledged messages at once (basic.qos prefetch).")
    var prefetch: UInt16 = 256

    @Option(help: "Queue where the agent server announces SERVER_AVAILABLE ('' to skip).")
    var advertisementQueue = "server_advertisement_queue"

    @Flag(help: "Follow a websocket_url in SERVER_AVAILABLE that differs from --websocket-url.")
    var followServerURL = false

    @Option(help: "Largest message body routed, in bytes; larger ones are dead-lettered.")
    var maxMessageSize: Int = Message.defaultMaximumSize

    @Option(help: "While the registry is not synced with the agent server: wait, route or dead-letter.")
    var stalePolicy = "wait"

    @Option(help: "Seconds a dropped status stream may stay down before --stale-policy applies.")
    var maxStaleness = 10

    @Option(help: "Round trips through the agent server after which a returning message is a cycle (0: off).")
    var maxRoundTrips = 10

    @Option(help: "Seconds within which --max-round-trips returns count as a cycle.")
    var roundTripWindow = 60

    @Option(help: "Routing hops inside RabbitMQ after which a message is dead-lettered as a cycle.")
    var maxHops = 10

    @Option(help: "Admin HTTP address, host:port.")
    var adminAddress = "127.0.0.1:9090"

    @Option(help: "Token for /-/reload and /decisions when the admin address is not loopback (env BROKER_ADMIN_TOKEN).")
    var adminToken: String? = ProcessInfo.processInfo.environment["BROKER_ADMIN_TOKEN"]

    @Option(help: "Seconds to finish in-flight messages on SIGTERM.")
    var drainTimeout = 10

    @Option(help: "Log format: text or json.")
    var logFormat = "text"

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    func validate() throws {
        guard RouterConfiguration.StalePolicy(name: stalePolicy) != nil else {
            throw ValidationError("--stale-policy must be wait, route or dead-letter")
        }
        guard maxRoundTrips >= 0, roundTripWindow > 0, maxHops > 0, maxStaleness >= 0, maxMessageSize > 0 else {
            throw ValidationError(
                "--max-round-trips and --max-staleness must be 0 or more; --round-trip-window, --max-hops and --max-message-size more than 0"
            )
        }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown --log-level '\(logLevel)'")
        }
        guard adminAddress.split(separator: ":").last.flatMap({ Int($0) }) != nil else {
            throw ValidationError("--admin-address must be host:port")
        }
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var configuration = DaemonConfiguration(transport: .amqp(try AMQPConfiguration.fromEnvironment()))
        configuration.rules = [rules]
        configuration.agents = registry.map { .file($0) } ?? .server(url: webSocketURL, brokerName: brokerName)
        configuration.inputQueue = inputQueue
        configuration.metadataQueue = metadataQueue
        configuration.advertisementQueue = advertisementQueue
        configuration.followAdvertisedURL = followServerURL
        configuration.prefetch = prefetch
        configuration.router.maximumMessageSize = maxMessageSize
        configuration.router.stalePolicy = RouterConfiguration.StalePolicy(name: stalePolicy) ?? .wait
        configuration.router.maximumStaleness = .seconds(maxStaleness)
        configuration.router.maximumRoundTrips = maxRoundTrips
        configuration.router.roundTripWindow = .seconds(roundTripWindow)
        configuration.router.maximumHops = maxHops
        configuration.drainTimeout = .seconds(drainTimeout)
        let hostPort = adminAddress.split(separator: ":")
        configuration.admin.host = hostPort.dropLast().joined(separator: ":")
        configuration.admin.port = Int(hostPort.last ?? "9090") ?? 9090
        configuration.admin.token = adminToken
        let daemon: Daemon
        do {
            daemon = try Daemon(configuration: configuration)
        } catch let error as RuleReloader.InvalidRules {
            printError(error.description)
            throw ExitCode(Status.usage)
        } catch {
            printError("error: \(error)")
            throw ExitCode(Status.usage)
        }
        try runUntilStopped(daemon)
    }
}

/// Runs a daemon until SIGTERM/SIGINT has drained it; SIGHUP reloads the rules.
func runUntilStopped(_ daemon: Daemon) throws {
    let hangup = SignalWatcher(signals: [SIGHUP]) { _, _ in daemon.reloader.reload(reason: "SIGHUP") }
    let stop = SignalWatcher(signals: [SIGTERM, SIGINT]) { _, count in
        if count > 1 { Foundation.exit(1) }
        daemon.stop()
    }
    defer { withExtendedLifetime((hangup, stop)) {} }
    do {
        try runToCompletion { try await daemon.run() }
    } catch {
        printError("error: \(error)")
        throw ExitCode(1)
    }
}

/// One JSON object per log line.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object = JSONObject([
            ("ts", .string(ISO8601DateFormatter().string(from: Date()))), ("level", .string(event.level.rawValue)),
            ("logger", .string(label)), ("message", .string(event.message.description)),
        ])
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = .string(value.description)
        }
        FileHandle.standardError.write(Data((JSONWriter.string(.object(object)) + "\n").utf8))
    }
}
