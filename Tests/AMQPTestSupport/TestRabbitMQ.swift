import AMQPTransport
import BrokerCore
import BrokerTransports
import Foundation
import TestSupport
import Testing

/// The RabbitMQ node the test script started (`scripts/rabbitmq.sh`, run by `make test`): the
/// URL in `RABBITMQ_URL`, else the script's default, 127.0.0.1:5673.
public enum TestRabbitMQ {
    public static let url = ProcessInfo.processInfo.environment["RABBITMQ_URL"] ?? "amqp://guest:guest@127.0.0.1:5673"

    public static let configuration: AMQPConfiguration = {
        do { return try AMQPConfiguration(url: url) } catch { fatalError("RABBITMQ_URL: \(error)") }
    }()

    /// Fails the test loudly when RabbitMQ is not reachable (never skips).
    public static func requireReachable(sourceLocation: SourceLocation = #_sourceLocation) throws {
        do {
            _ = try AMQPAdmin.messageCount("broker_test_probe", configuration: configuration)
        } catch {
            Issue.record(
                "RabbitMQ is not reachable at \(configuration): \(error). Run `make test` (it starts a node of its own) or `scripts/rabbitmq.sh start`.",
                sourceLocation: sourceLocation)
            throw error
        }
    }

    /// Runs `rabbitmqctl` against the test node and requires it to succeed.
    public static func ctl(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (status, output) = try runCommandBlocking(
            "/bin/bash", [repositoryRoot.appendingPathComponent("scripts/rabbitmq.sh").path, "ctl"] + arguments)
        try #require(
            status == 0, "rabbitmqctl \(arguments.joined(separator: " ")) failed: \(output)",
            sourceLocation: sourceLocation)
    }

    /// Sets a policy of its own on `queue`: at most `length` messages, publishes beyond it
    /// nacked (`reject-publish`). Returns the policy's name, for `ctl(["clear_policy", name])`.
    public static func rejectPublishes(to queue: String, beyond length: Int, name: String) async throws -> String {
        try await control([
            "set_policy", name, "^\(queue)$", #"{"max-length":\#(length),"overflow":"reject-publish"}"#,
            "--apply-to", "queues",
        ])
        return name
    }

    /// A virtual host of its own for one test, so the broker and the simulator use the real
    /// queue names (broker_input_queue, server_input_queue, …) without seeing other tests.
    ///
    /// Async: rabbitmqctl takes a second or more (an Erlang VM starts), and a test that waited
    /// for it on a task thread would hold one of the two this machine has, stalling every other
    /// test in the process.
    public static func makeVirtualHost() async throws -> VirtualHost {
        let name = "test_\(uniqueID())"
        try await control(["-q", "add_vhost", name])
        try await control(["-q", "set_permissions", "-p", name, configuration.user, ".*", ".*", ".*"])
        return VirtualHost(name: name)
    }

    /// ``ctl(_:sourceLocation:)`` without holding a task thread while rabbitmqctl runs.
    public static func control(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (status, output) = try await runCommand(
            "/bin/bash", [repositoryRoot.appendingPathComponent("scripts/rabbitmq.sh").path, "ctl"] + arguments)
        try #require(
            status == 0, "rabbitmqctl \(arguments.joined(separator: " ")) failed: \(output)",
            sourceLocation: sourceLocation)
    }

    /// One test's virtual host.
    public struct VirtualHost: Sendable {
        public let name: String

        /// The configuration to reach it.
        public var configuration: AMQPConfiguration {
            var configuration = TestRabbitMQ.configuration
            configuration.virtualHost = name
            return configuration
        }

        /// Its URL (for a child process's RABBITMQ_URL).
        public var url: String {
            let c = TestRabbitMQ.configuration
            return "amqp://\(c.user):\(c.password)@\(c.host):\(c.port)/\(name)"
        }

        /// Ready messages in `queue` (declares it if missing).
        public func count(_ queue: String) throws -> Int {
            try AMQPAdmin.messageCount(queue, configuration: configuration)
        }

        /// Publishes `bodies` to `queue` with confirms (persistent); requires all to be confirmed.
        public func publish(_ bodies: [[UInt8]], to queue: String) async throws {
            try await TestRabbitMQ.publish(bodies, to: queue, configuration: configuration)
        }

        /// Takes every message out of `queue` until it stays empty for `quiet`.
        public func drain(_ queue: String, quiet: Duration = .milliseconds(600)) async -> [InboundMessage] {
            await TestRabbitMQ.drain(queue, configuration: configuration, quiet: quiet)
        }

        /// Deletes the virtual host and everything in it, on a thread of its own (callable from
        /// a `defer`; no task thread waits for rabbitmqctl).
        public func delete() {
            let name = self.name
            Thread.detachNewThread { try? TestRabbitMQ.ctl(["-q", "delete_vhost", name]) }
        }
    }

    /// Clears the policy `name` on a thread of its own (callable from a `defer`; no task thread
    /// waits for rabbitmqctl, which takes a second or two). For a policy of one test's queues.
    public static func clearPolicyInBackground(_ name: String) {
        Thread.detachNewThread { try? TestRabbitMQ.ctl(["clear_policy", name]) }
    }

    /// Publishes `bodies` (with `properties`) to `queue` with confirms, at most `inFlight` at once
    /// (1: in order); the queue is declared first unless `declaring` is false.
    public static func publish(
        _ bodies: [[UInt8]], to queue: String, properties: MessageProperties = MessageProperties(),
        configuration: AMQPConfiguration, inFlight: Int = 512, declaring: Bool = true
    ) async throws {
        let publisher = AMQPPublisher(configuration: configuration, declareQueues: declaring ? [queue] : [])
        defer { publisher.beginGracefulShutdown() }
        try await withThrowingTaskGroup(of: PublishResult.self) { group in
            var next = 0
            var running = 0
            while next < bodies.count || running > 0 {
                while running < inFlight && next < bodies.count {
                    let body = bodies[next]
                    group.addTask {
                        // A nack means not enqueued (a quorum queue still electing a leader
                        // refuses for a moment): publish it again, as the broker does.
                        let message = OutboundMessage(body: body, target: .queue(queue), properties: properties)
                        var result = await publisher.publish(message)
                        for _ in 0..<100 {
                            guard case .refused = result else { break }
                            try? await Task.sleep(for: .milliseconds(100))
                            result = await publisher.publish(message)
                        }
                        return result
                    }
                    next += 1
                    running += 1
                }
                if let result = try await group.next() {
                    running -= 1
                    guard case .confirmed = result else { throw AMQPError.channel("publish failed: \(result)") }
                }
            }
        }
    }

    /// Takes every message out of `queue` until it stays empty for `quiet` (at most two minutes).
    public static func drain(_ queue: String, configuration: AMQPConfiguration, quiet: Duration = .milliseconds(600))
        async -> [InboundMessage]
    {
        let consumer = AMQPConsumer(configuration: configuration, queue: queue, prefetch: 1000)
        let collector = Task {
            var seen: [InboundMessage] = []
            for await message in consumer.messages {
                message.settlement.ack()
                seen.append(message)
            }
            return seen
        }
        let deadline = ContinuousClock.now + .seconds(120)
        var emptyReadings = 0
        while emptyReadings < 2 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: quiet)
            let count = (try? AMQPAdmin.messageCount(queue, configuration: configuration)) ?? 0
            emptyReadings = count == 0 ? emptyReadings + 1 : 0
        }
        consumer.beginGracefulShutdown()
        let messages = await collector.value
        await consumer.run()
        return messages
    }
}

extension InboundMessage {
    /// The body as a message, if it is one.
    public var message: Message? { try? Message(decoding: body) }
}
