import AMQPTransport
import ArgumentParser
import BrokerCore
import BrokerDaemon
import BrokerRouter
import BrokerTransports
import Foundation
import Logging
import WebSocketClient

/// The options of `broker run`, and how they become a ``BrokerDaemon/DaemonConfiguration``.
public struct RunOptions: ParsableArguments {
    public init() {}

    @Option(help: "YAML file of option names and values (e.g. `prefetch: 512`); command-line flags win.")
    public var config: String?

    @Option(help: "Rule file or directory (env BROKER_RULES).")
    public var rules: String = ProcessInfo.processInfo.environment["BROKER_RULES"] ?? "rules"

    @Option(
        help: """
            Where messages come from and go to: amqp://user:password@host:port/vhost or amqps://… \
            (`broker-dev run` also memory://NAME) (env BROKER_TRANSPORT, else RABBITMQ_URL, else RABBITMQ_HOST and RABBITMQ_PORT with guest/guest).
            """)
    public var transport: String?

    @Option(name: .customLong("websocket-url"), help: "The agent server's WebSocket URL (env WEBSOCKET_URL).")
    public var webSocketURL: String = ProcessInfo.processInfo.environment["WEBSOCKET_URL"] ?? "ws://localhost:8765/ws"

    @Option(help: "Name the broker registers under (env BROKER_NAME).")
    public var brokerName: String = ProcessInfo.processInfo.environment["BROKER_NAME"] ?? "broker"

    @Option(help: "Take the registry from this snapshot file instead of the agent server.")
    public var registry: String?

    @Option(help: "Queue to route from.")
    public var inputQueue = "broker_input_queue"

    @Option(help: "Queue of REGISTER_AGENT / CLIENT_DISCONNECTED messages ('' to skip).")
    public var metadataQueue = "agent_metadata_queue"

    @Option(help: "Queue where the agent server announces SERVER_AVAILABLE ('' to skip).")
    public var advertisementQueue = "server_advertisement_queue"

    @Flag(help: "Follow a websocket_url in SERVER_AVAILABLE that differs from --websocket-url.")
    public var followServerURL = false

    @Option(
        help: """
            PEM file of the CA certificates that sign the agent server's TLS certificates, for wss:// and gRPC \
            (env AGENT_SERVER_CA; default: the system's trust roots).
            """)
    public var serverCA: String = ProcessInfo.processInfo.environment["AGENT_SERVER_CA"] ?? ""

    @Option(
        help:
            "TLS on the gRPC status stream: auto (when --websocket-url is wss://), on or off. Certificates are verified."
    )
    public var grpcTLS = "auto"

    @Option(help: "Most unacknowledged messages at once (basic.qos prefetch).")
    public var prefetch = 256

    @Option(
        help:
            "Most memory unacknowledged messages may take at once, each counted as 11 times its body plus 80 KiB (body, parsed form, copies); deliveries wait while this much is in flight (one message always flows)."
    )
    public var maxInflightBytes = 64 << 20

    @Option(
        help:
            "Largest message body routed, in bytes (default 16 MiB, RabbitMQ's own since 4.0); larger ones are dead-lettered."
    )
    public var maxMessageSize: Int = Message.defaultMaximumSize

    @Option(help: "While the registry is not synced with the agent server: wait, route or dead-letter.")
    public var stalePolicy = "wait"

    @Option(help: "Seconds a dropped status stream may stay down before --stale-policy applies.")
    public var maxStaleness = 10

    @Option(
        help:
            "Seconds at most that decisions choosing among agents wait after the agent server (re)starts with an empty or short agent list, while its agents reconnect (0: never wait)."
    )
    public var warmUp: Double = 30

    @Option(help: "A warm-up ends once some agent is back and no other has come back for this many seconds.")
    public var warmUpQuiet: Double = 5

    @Option(help: "Round trips through the agent server after which a returning message is a cycle (0: off).")
    public var maxRoundTrips = 10

    @Option(help: "Seconds within which --max-round-trips returns count as a cycle.")
    public var roundTripWindow = 60

    @Option(help: "Routing hops inside the message system after which a message is dead-lettered as a cycle.")
    public var maxHops = 10

    @Option(
        help:
            "Seconds a routed copy no queue takes (NO_ROUTE: its queue is missing) is retried before the message is dead-lettered."
    )
    public var unroutableRetry = 30

    @Option(help: "Agent records one status message on the input or metadata queue may apply.")
    public var maxDataPathRecords = 1_000

    @Option(
        help:
            "Agents the input and metadata queues may add that the agent server's feed did not report (anyone who can publish there can send status updates)."
    )
    public var maxDataPathAgents = 10_000

    @Option(
        help:
            "Most agents one status list of the agent server brings into the registry; the rest are left out with an error in the log (each agent takes about 1 KB)."
    )
    public var maxAgents = 100_000

    @Option(
        help:
            "Who may take agents offline and replace the agent list: feed (only the agent server's status stream or --registry) or full (also status messages on the input and metadata queues, as the original broker)."
    )
    public var dataPathTrust = "feed"

    /// The options only the RabbitMQ transport has, under their own heading in `--help`.
    @OptionGroup(title: "RabbitMQ transport (amqp://, amqps://)")
    public var rabbitmq: RabbitMQOptions

    @Flag(inversion: .prefixedNo, help: "Reload the rules when their files change.")
    public var watchRules = true

    @Flag(
        inversion: .prefixedNo,
        help:
            "Refuse rules with warnings, at start-up and on every reload (what validate-rules --strict refuses), so a reload never puts in force what the next start would refuse."
    )
    public var strictRules = false

    @Flag(
        inversion: .prefixedNo,
        help: "Include explain traces (which quote message fields) in /decisions; without them: route, outcome, id.")
    public var decisionTraces = true

    @Option(
        help:
            "Candidate rules (file or directory) decided beside the live ones on every message, publishing nothing: divergences in /metrics and /shadow."
    )
    public var shadowRules: String?

    @Option(
        help:
            "Record every decision to this file as JSON Lines, for broker diff-rules (messages only with --decision-traces)."
    )
    public var record: String?

    @Option(
        help: "Size of the --record file (bytes, or with K, M or G) at which it becomes FILE.1 and a new one starts.")
    public var recordMaxSize = "64M"

    @Option(help: "Admin HTTP address, host:port (port 0: any free port).")
    public var adminAddress = "127.0.0.1:\(AdminServer.Configuration.defaultPort)"

    @Option(help: "Most admin HTTP connections open at once (more wait); keep it well below the file limit.")
    public var adminMaxConnections = 128

    @Option(help: "Token for /-/reload and /decisions when the admin address is not loopback (env BROKER_ADMIN_TOKEN).")
    public var adminToken: String?

    @Option(help: "Seconds to finish in-flight messages on SIGTERM.")
    public var drainTimeout = 10

    @Option(help: "Log format: text or json.")
    public var logFormat = "text"

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    public var logLevel = "info"

    public func validate() throws {
        guard RouterConfiguration.StalePolicy(name: stalePolicy) != nil else {
            throw ValidationError("--stale-policy must be wait, route or dead-letter")
        }
        guard DataPathAdmission.Trust(rawValue: dataPathTrust) != nil else {
            throw ValidationError("--data-path-trust must be feed or full")
        }
        guard maxAgents > 0 else { throw ValidationError("--max-agents must be more than 0") }
        guard maxInflightBytes > 0 else { throw ValidationError("--max-inflight-bytes must be more than 0") }
        guard unroutableRetry >= 0 else { throw ValidationError("--unroutable-retry must be 0 or more") }
        guard maxDataPathRecords >= 1, maxDataPathAgents >= 0 else {
            throw ValidationError("--max-data-path-records must be 1 or more, --max-data-path-agents 0 or more")
        }
        guard maxRoundTrips >= 0, maxStaleness >= 0 else {
            throw ValidationError("--max-round-trips and --max-staleness must be 0 or more")
        }
        guard warmUp >= 0, warmUp <= 3600, warmUpQuiet >= 0, warmUpQuiet <= 3600 else {
            throw ValidationError("--warm-up and --warm-up-quiet must be 0…3600 seconds")
        }
        guard roundTripWindow > 0, maxHops > 0, maxMessageSize > 0, prefetch > 0, drainTimeout > 0 else {
            throw ValidationError(
                "--round-trip-window, --max-hops, --max-message-size, --prefetch and --drain-timeout must be more than 0"
            )
        }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown --log-level '\(logLevel)'")
        }
        guard adminMaxConnections >= 1 else { throw ValidationError("--admin-max-connections must be 1 or more") }
        guard adminAddress.split(separator: ":").last.flatMap({ Int($0) }) != nil else {
            throw ValidationError("--admin-address must be host:port")
        }
        guard AgentServerSettings.TLS.GRPCMode(rawValue: grpcTLS) != nil else {
            throw ValidationError("--grpc-tls must be auto, on or off, not '\(grpcTLS)'")
        }
        if registry == nil {
            // A malformed URL (`ws//user:password@host`) would otherwise be retried forever, its
            // text in the logs and in /readyz: refuse it, credentials hidden.
            do {
                _ = try WebSocketEndpoint(url: webSocketURL)
            } catch {
                throw ValidationError("--websocket-url (WEBSOCKET_URL): \(error)")
            }
        }
        if !serverCA.isEmpty, !FileManager.default.isReadableFile(atPath: serverCA) {
            throw ValidationError("--server-ca: cannot read '\(serverCA)'")
        }
    }

    /// The transport URL: `--transport`, `BROKER_TRANSPORT`, `RABBITMQ_URL`, or one made from
    /// `RABBITMQ_HOST`/`RABBITMQ_PORT` (the original broker's variables).
    public func transportURL(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let transport, !transport.isEmpty { return transport }
        if let url = environment["BROKER_TRANSPORT"], !url.isEmpty { return url }
        return try AMQPConfiguration.fromEnvironment(environment).url
    }

    /// `64M`, `500K`, `1G` or a number of bytes.
    static func bytes(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        guard let last = text.uppercased().last else { return nil }
        if let unit = units[last] { return Int(text.dropLast()).map { $0 * unit } }
        return Int(text)
    }

    /// The agent server to register with and follow (`--websocket-url`, `--broker-name`, TLS,
    /// the warm-up and the agent limit).
    public var agentServer: AgentServerSettings {
        var settings = AgentServerSettings(url: webSocketURL, brokerName: brokerName)
        settings.tls.caCertificate = serverCA.isEmpty ? nil : serverCA
        settings.tls.grpc = AgentServerSettings.TLS.GRPCMode(rawValue: grpcTLS) ?? .auto
        settings.statusFeed.warmup = RegistryWarmup.Policy(
            deadline: .milliseconds(Int(warmUp * 1000)), quietPeriod: .milliseconds(Int(warmUpQuiet * 1000)))
        settings.statusFeed.maximumAgents = maxAgents
        return settings
    }

    /// The daemon's configuration, with the transport taken from `transports` (default: the
    /// standard ones, RabbitMQ declaring its queues as the options say).
    public func configuration(
        transports: TransportFactory? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> DaemonConfiguration {
        let factory = transports ?? StandardTransports.factory(for: self)
        var configuration = DaemonConfiguration(
            transport: try factory.transport(for: transportURL(environment: environment)),
            agents: registry.map { .file($0) } ?? .agentServer(agentServer))
        configuration.rules = [rules]
        configuration.inputQueue = inputQueue
        configuration.metadataQueue = metadataQueue
        configuration.advertisementQueue = advertisementQueue
        configuration.followAdvertisedURL = followServerURL
        configuration.prefetch = prefetch
        configuration.maximumUnsettledBytes = maxInflightBytes
        configuration.router.maximumMessageSize = maxMessageSize
        configuration.router.stalePolicy = RouterConfiguration.StalePolicy(name: stalePolicy) ?? .wait
        configuration.router.maximumStaleness = .seconds(maxStaleness)
        configuration.router.maximumRoundTrips = maxRoundTrips
        configuration.router.unroutableRetry = .seconds(unroutableRetry)
        configuration.router.maximumDataPathRecordsPerMessage = maxDataPathRecords
        configuration.router.maximumDataPathAgents = maxDataPathAgents
        configuration.router.dataPathTrust = DataPathAdmission.Trust(rawValue: dataPathTrust) ?? .feed
        configuration.router.roundTripWindow = .seconds(roundTripWindow)
        configuration.router.maximumHops = maxHops
        // One replica routes at a time so that input order holds: the router keeps it too.
        configuration.router.keepsInputOrder = rabbitmq.singleActiveConsumer
        configuration.drainTimeout = .seconds(drainTimeout)
        configuration.watchRules = watchRules
        configuration.strictRules = strictRules
        configuration.shadowRules = shadowRules.map { [$0] } ?? []
        if let record {
            guard let size = Self.bytes(recordMaxSize), size > 0 else {
                throw ValidationError("--record-max-size must be a size such as 64M, 500K or 1048576")
            }
            configuration.record = (record, size)
        }
        configuration.admin.showsDecisionTraces = decisionTraces
        configuration.admin.maximumConnections = adminMaxConnections
        let hostPort = adminAddress.split(separator: ":")
        configuration.admin.host = hostPort.dropLast().joined(separator: ":")
        configuration.admin.port = Int(hostPort.last ?? "") ?? AdminServer.Configuration.defaultPort
        configuration.admin.token = adminToken ?? environment["BROKER_ADMIN_TOKEN"]
        return configuration
    }

    /// Sends the process's logs to standard error as text or JSON lines, at the chosen level.
    public func bootstrapLogging() {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                json ? JSONLogHandler(label: label) : TextLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
