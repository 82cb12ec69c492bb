import AMQPTransport
import TestSupport
import Testing

/// How the broker finds RabbitMQ (no server needed).
@Suite(.timeLimit(.minutes(10))) struct ConfigurationTests {
    @Test func theOriginalsVariablesAndDefaults() throws {
        let defaults = try AMQPConfiguration.fromEnvironment([:])
        #expect(
            (defaults.host, defaults.port, defaults.user, defaults.password, defaults.virtualHost) == (
                "localhost", 5672, "guest", "guest", "/"
            ))
        let custom = try AMQPConfiguration.fromEnvironment(["RABBITMQ_HOST": "mq.internal", "RABBITMQ_PORT": "5673"])
        #expect((custom.host, custom.port) == ("mq.internal", 5673))
        #expect(throws: AMQPError.self) { try AMQPConfiguration.fromEnvironment(["RABBITMQ_PORT": "http"]) }
    }

    /// A cluster: `RABBITMQ_URL` lists its nodes; they share everything but host and port.
    @Test func aListOfURLsIsTheNodesOfOneCluster() throws {
        let cluster = try AMQPConfiguration(
            url: "amqp://broker:pw@mq-1:5672/prod, amqp://broker:pw@mq-2:5672/prod,amqp://broker:pw@mq-3:5673/prod")
        #expect(cluster.nodes.map(\.description) == ["mq-1:5672", "mq-2:5672", "mq-3:5673"])
        #expect(cluster.aimed(at: 2).host == "mq-3" && cluster.aimed(at: 2).port == 5673)
        #expect(cluster.aimed(at: 3).host == "mq-1", "round the list")
        #expect("\(cluster)" == "amqp://broker:***@mq-1:5672/prod (and mq-2:5672, mq-3:5673)")
        #expect(cluster.aimed(at: 1).nodeDescription == "amqp://broker:***@mq-2:5672/prod")
        #expect(try AMQPConfiguration(url: cluster.url).nodes == cluster.nodes, "url round-trips the list")
        #expect(
            cluster.startingAt(4).nodes.map(\.description) == ["mq-2:5672", "mq-3:5673", "mq-1:5672"],
            "a replica's list starts at its own node and keeps every other")
        #expect(throws: AMQPError.self) {
            try AMQPConfiguration(url: "amqp://broker:pw@mq-1/prod,amqp://other:pw@mq-2/prod")
        }
    }

    @Test func urlsWithCredentialsVirtualHostsAndTLS() throws {
        let url = try AMQPConfiguration(url: "amqp://broker:s3cret@mq.example:5680/team%2fa")
        #expect(
            (url.host, url.port, url.user, url.password, url.virtualHost) == (
                "mq.example", 5680, "broker", "s3cret", "team/a"
            ))
        #expect(url.tls == nil)
        let slash = try AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:5672/")
        #expect(slash.virtualHost == "/")
        let tls = try AMQPConfiguration.fromEnvironment([
            "RABBITMQ_URL": "amqps://u:p@secure.example/", "RABBITMQ_CA_CERT": "/etc/ca.pem",
        ])
        #expect(tls.port == 5671)
        #expect(tls.tls?.caCertificate == "/etc/ca.pem")
        #expect(tls.tls?.verifyPeer == true && tls.tls?.verifyHostname == true)
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "http://nope") }
        #expect(try AMQPConfiguration.fromEnvironment(["RABBITMQ_IMPERSONATOR": "true"]).impersonator)
        #expect(try !AMQPConfiguration.fromEnvironment([:]).impersonator)
        #expect(throws: AMQPError.self) { try AMQPConfiguration.fromEnvironment(["RABBITMQ_IMPERSONATOR": "maybe"]) }
    }

    @Test func passwordsNeverAppearInDescriptionsOrErrors() throws {
        let configuration = try AMQPConfiguration(url: "amqp://broker:hunter2@mq.example:5672/")
        #expect(!"\(configuration)".contains("hunter2"))
        #expect("\(configuration)" == "amqp://broker:***@mq.example:5672/")
        do {
            _ = try AMQPConfiguration(url: "amqp://broker:hunter2@[bad")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }
}
