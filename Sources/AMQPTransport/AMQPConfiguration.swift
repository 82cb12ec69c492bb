import BrokerTransports
import CRabbitMQ
import Foundation

/// How to reach RabbitMQ.
///
/// From the environment: `RABBITMQ_URL` (`amqp://user:password@host:port/vhost`, `amqps://` for
/// TLS), or the original broker's `RABBITMQ_HOST` (default `localhost`) and `RABBITMQ_PORT`
/// (default 5672) with guest/guest on vhost `/`.
public struct AMQPConfiguration: Sendable, CustomStringConvertible {
    public var host = "localhost"
    public var port = 5672
    public var user = "guest"
    public var password = "guest"
    public var virtualHost = "/"
    /// Seconds between heartbeats (0 disables them).
    public var heartbeat = 30
    /// TLS (from `amqps://`): peer and host name verification are on unless turned off.
    public var tls: TLS?
    /// How long to wait for a TCP connection.
    public var connectTimeout: Duration = .seconds(5)
    /// How long a publisher waits for a publish's confirm before it gives the connection up (see
    /// ``AMQPPublisher``); time RabbitMQ blocks the connection does not count.
    public var confirmTimeout: Duration = .seconds(30)
    /// The user has RabbitMQ's `impersonator` tag, so a publish may carry any `user_id`; without
    /// it the publisher moves a `user_id` other than `user` to a header (see ``AMQPPropertyMapping``).
    public var impersonator = false
    /// How the queues are declared (type, delivery limit, single active consumer).
    public var queues = QueueSettings()
    /// The cluster's other nodes (from a comma-separated `RABBITMQ_URL`): on connection loss a
    /// consumer or publisher moves on to the next node, round the list.
    public var otherNodes: [Node] = []

    /// One RabbitMQ node of a cluster.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }
    }

    /// Every node, the first (``host``, ``port``) first.
    public var nodes: [Node] { [Node(host: host, port: port)] + otherNodes }

    /// This configuration aimed at the `index`th of ``nodes`` (modulo their number).
    public func aimed(at index: Int) -> AMQPConfiguration {
        var copy = self
        let node = nodes[(index % nodes.count + nodes.count) % nodes.count]
        copy.host = node.host
        copy.port = node.port
        return copy
    }

    /// This configuration with every node, the `index`th (modulo their number) first and the
    /// others after it round the list: replicas spread over a cluster with it.
    public func startingAt(_ index: Int) -> AMQPConfiguration {
        let all = nodes
        let start = (index % all.count + all.count) % all.count
        var copy = aimed(at: start)
        copy.otherNodes = (1..<all.count).map { all[(start + $0) % all.count] }
        return copy
    }

    /// TLS settings.
    public struct TLS: Sendable {
        public var caCertificate: String?
        public var clientCertificate: String?
        public var clientKey: String?
        public var verifyPeer = true
        public var verifyHostname = true

        public init() {}
    }

    public init() {}

    /// Reads `RABBITMQ_URL`, or `RABBITMQ_HOST`/`RABBITMQ_PORT`, and the variables of
    /// ``applyEnvironment(_:)``.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(AMQPError) -> AMQPConfiguration
    {
        var configuration: AMQPConfiguration
        if let url = environment["RABBITMQ_URL"], !url.isEmpty {
            configuration = try AMQPConfiguration(url: url)
        } else {
            configuration = AMQPConfiguration()
            configuration.host = environment["RABBITMQ_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
            if let port = environment["RABBITMQ_PORT"], !port.isEmpty {
                guard let number = Int(port), (1...65535).contains(number) else {
                    throw AMQPError.configuration("RABBITMQ_PORT '\(port)' is not a port number")
                }
                configuration.port = number
            }
        }
        try configuration.applyEnvironment(environment)
        return configuration
    }

    /// Takes the settings a URL cannot say from `environment`: `RABBITMQ_IMPERSONATOR`
    /// (`true`: the user has the `impersonator` tag, see ``impersonator``) and, with TLS, the CA
    /// and client certificate files `RABBITMQ_CA_CERT`, `RABBITMQ_CLIENT_CERT`,
    /// `RABBITMQ_CLIENT_KEY`.
    public mutating func applyEnvironment(_ environment: [String: String]) throws(AMQPError) {
        switch environment["RABBITMQ_IMPERSONATOR"]?.lowercased() {
        case nil, "", "false", "0", "no": impersonator = false
        case "true", "1", "yes": impersonator = true
        case let other?:
            throw AMQPError.configuration("RABBITMQ_IMPERSONATOR '\(other)' is not true or false")
        }
        guard tls != nil else { return }
        tls?.caCertificate = environment["RABBITMQ_CA_CERT"]
        tls?.clientCertificate = environment["RABBITMQ_CLIENT_CERT"]
        tls?.clientKey = environment["RABBITMQ_CLIENT_KEY"]
    }

    /// The URL of this configuration (`RABBITMQ_URL`, or one built from `RABBITMQ_HOST` and
    /// `RABBITMQ_PORT`), password included: for child processes, never for logs. The vhost is
    /// always spelled out (`/%2F` for `/`): other clients, rabbitmq-c's `amqp_parse_url` among
    /// them, read an empty path as the vhost "" (the AMQP URI specification's reading).
    public var url: String {
        let credentials = [user, password].map { $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }
        let vhost = virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return nodes.map {
            "\(scheme)://\(credentials[0]):\(credentials[1])@\($0.host):\($0.port)/\(vhost)"
        }
        .joined(separator: ",")
    }

    /// Parses an `amqp://` or `amqps://` URL (rabbitmq-c's parser: `%2f` is `/`; an empty path
    /// means vhost `/`), or a comma-separated list of them, one per node of a cluster (with the
    /// same scheme, user, password and vhost).
    public init(url: String) throws(AMQPError) {
        let urls = url.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard urls.count > 1 else {
            try self.init(single: url)
            return
        }
        try self.init(single: urls[0])
        for other in urls.dropFirst() {
            let node = try AMQPConfiguration(single: other)
            guard node.tls == nil && tls == nil || node.tls != nil && tls != nil, node.user == user,
                node.password == password, node.virtualHost == virtualHost
            else {
                throw AMQPError.configuration(
                    "the RabbitMQ URLs of one cluster differ in more than host and port: \(redactingPassword(in: other))"
                )
            }
            otherNodes.append(Node(host: node.host, port: node.port))
        }
    }

    private init(single url: String) throws(AMQPError) {
        var info = amqp_connection_info()
        amqp_default_connection_info(&info)
        var buffer = Array(url.utf8CString)
        let status = buffer.withUnsafeMutableBufferPointer { amqp_parse_url($0.baseAddress, &info) }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError.configuration("cannot parse the RabbitMQ URL \(redactingPassword(in: url))")
        }
        self.init()
        host = String(cString: info.host)
        port = Int(info.port)
        user = String(cString: info.user)
        password = String(cString: info.password)
        virtualHost = String(cString: info.vhost)
        if info.ssl != 0 { tls = TLS() }
        // rabbitmq-c turns "amqp://host/" into the empty vhost, which never exists: use "/".
        if virtualHost.isEmpty { virtualHost = "/" }
    }

    /// The URL with the password replaced, for logs.
    public var description: String {
        let others = otherNodes.isEmpty ? "" : " (and \(otherNodes.map(\.description).joined(separator: ", ")))"
        return nodeDescription + others
    }

    /// The URL of the node in ``host`` and ``port`` alone, password replaced: where a consumer or
    /// publisher is connected.
    public var nodeDescription: String {
        "\(scheme)://\(user):***@\(host):\(port)/\(encodedVirtualHost)"
    }

    private var scheme: String { tls == nil ? "amqp" : "amqps" }

    /// The vhost as a URL path: empty for `/`, percent-encoded otherwise.
    private var encodedVirtualHost: String {
        virtualHost == "/" ? "" : virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }
}

/// A RabbitMQ failure.
public enum AMQPError: Error, Sendable, CustomStringConvertible {
    case configuration(String)
    case connection(String)
    case channel(String)

    public var description: String {
        switch self {
        case .configuration(let s): "configuration: \(s)"
        case .connection(let s): "connection: \(s)"
        case .channel(let s): "channel: \(s)"
        }
    }
}
