import AMQPTransport
import Foundation
import TestSupport
import Testing

/// The three-node RabbitMQ cluster the test script started (`scripts/rabbitmq-cluster.sh`, run
/// by `make test`): its URLs in `RABBITMQ_CLUSTER_URLS`, else the script's defaults.
public enum TestCluster {
    public static let urls =
        ProcessInfo.processInfo.environment["RABBITMQ_CLUSTER_URLS"]
        ?? "amqp://guest:guest@127.0.0.1:5681,amqp://guest:guest@127.0.0.1:5682,amqp://guest:guest@127.0.0.1:5683"

    /// Every node, node 1 first.
    public static let configuration: AMQPConfiguration = {
        do { return try AMQPConfiguration(url: urls) } catch { fatalError("RABBITMQ_CLUSTER_URLS: \(error)") }
    }()

    /// Runs `scripts/rabbitmq-cluster.sh ARGS` and returns its output; requires it to succeed.
    @discardableResult
    public static func script(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> String
    {
        let (status, output) = try await runCommand(
            "/bin/bash", [repositoryRoot.appendingPathComponent("scripts/rabbitmq-cluster.sh").path] + arguments)
        try #require(
            status == 0, "rabbitmq-cluster.sh \(arguments.joined(separator: " ")) failed: \(output)",
            sourceLocation: sourceLocation)
        return output
    }

    /// Fails the test loudly unless all three nodes run in one cluster (never skips).
    public static func requireRunning(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (status, _) = try await runCommand(
            "/bin/bash", [repositoryRoot.appendingPathComponent("scripts/rabbitmq-cluster.sh").path, "status"])
        if status != 0 {
            Issue.record(
                "the RabbitMQ test cluster is not running: run `make test` (it starts one) or `scripts/rabbitmq-cluster.sh start`.",
                sourceLocation: sourceLocation)
            throw TimedOut(what: "the cluster")
        }
    }
}
