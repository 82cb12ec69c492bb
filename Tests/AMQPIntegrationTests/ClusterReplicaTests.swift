import AMQPTestSupport
import AMQPTransport
import AgentServerSimulator
import BrokerCore
import Foundation
import Synchronization
import TestSupport
import Testing

/// Three `broker run` replicas as competing consumers of one quorum input on the three-node
/// cluster, with a RabbitMQ node and a replica SIGKILLed mid-run. In ``ClusterTests`` (an
/// extension of it) so that no two tests kill nodes at once.
extension RabbitMQIntegration.ClusterTests {
    /// How many messages the replica test sends (`BROKER_CLUSTER_TEST_MESSAGES`, default
    /// 20,000: a few minutes of CI on two cores; the README gives a 100,000-message run).
    static let replicaTestMessages =
        ProcessInfo.processInfo.environment["BROKER_CLUSTER_TEST_MESSAGES"].flatMap(Int.init) ?? 20_000

    /// A replica whose node list starts at node `first` (0-based), so the replicas spread
    /// over the cluster; its admin server on a port of its own; its agents from `agents`
    /// (`--registry FILE` or `--websocket-url URL`; default: the three-agent registry file).
    func replica(
        _ index: Int, first: Int, queues: TestQueues, rules: URL, port: Int, agents: [String]? = nil
    ) throws -> ChildProcess {
        return try ChildProcess(
            "replica-\(index)-\(queues.id)-\(UUID().uuidString.prefix(4))",
            arguments: [
                "run", "--rules", rules.path,
            ]
                + (agents ?? [
                    "--registry", repositoryRoot.appendingPathComponent("rules/registries/three-agents.yaml").path,
                ]) + [
                    "--input-queue", queues.input, "--metadata-queue", "", "--advertisement-queue", "",
                    "--admin-address", "127.0.0.1:\(port)", "--queue-type", "quorum", "--prefetch", "128",
                    "--confirm-timeout", "5",
                ], environment: ["RABBITMQ_URL": TestCluster.configuration.startingAt(first).url])
    }

    /// Every id ends in the output or the dead-letter queue, duplicates counted; while node 1
    /// is down, no replica's `/readyz` says ready on a connection to it; once it is back, the
    /// survivors stay ready where they are and route what comes next.
    @Test func threeReplicasLoseNothingWhenANodeAndAReplicaAreKilled() async throws {
        try await TestCluster.requireRunning()
        let queues = TestQueues()
        defer { cleanUp(queues) }
        let rules = try rulesFile(queues)
        defer { try? FileManager.default.removeItem(at: rules) }
        // Verification and publishing go through node 3, which stays up.
        let node3 = quorum.aimed(at: 2)
        let ports = try (0..<3).map { _ in try freePort() }
        let replicas = try (0..<3).map { try replica($0, first: $0, queues: queues, rules: rules, port: ports[$0]) }
        defer { for replica in replicas { replica.send(SIGKILL) } }
        try await eventually("every replica is ready", timeout: .seconds(90)) { await allReady(ports) }
        let total = Self.replicaTestMessages
        let bodies = (0..<total).map {
            Array(#"{"message_type":"TEXT","sender_id":"agent_a","message_id":"r\#($0)"}"#.utf8)
        }
        let publishing = Task {
            try await TestRabbitMQ.publish(bodies, to: queues.input, configuration: node3, declaring: false)
        }
        let count = { (queue: String) in (try? AMQPAdmin.messageCount(queue, configuration: node3)) ?? 0 }
        try await eventually("routing is under way", timeout: .seconds(120)) { count(queues.output) >= total / 5 }

        try await TestCluster.script(["kill-node", "1"])
        replicas[1].send(SIGKILL)
        let killed = ContinuousClock.now
        // /readyz sampled while node 1 is down: ready must never name it once the loss is seen.
        let node1 = ":\(quorum.port)/"
        let untruthful = Mutex<[String]>([])
        let readySamples = Atomic(0)
        let lastUnready = Mutex("")
        let sampling = Task {
            while !Task.isCancelled {
                for port in [ports[0], ports[2]] {
                    let readiness = await http("GET", "http://127.0.0.1:\(port)/readyz", timeout: 2)
                    guard readiness.status == 200, ContinuousClock.now - killed > .seconds(2) else {
                        lastUnready.withLock { $0 = "\(readiness.status) \(readiness.body)" }
                        continue
                    }
                    readySamples.add(1, ordering: .relaxed)
                    if readiness.body.contains(node1) { untruthful.withLock { $0.append(readiness.body) } }
                }
                try? await pace(.milliseconds(100))
            }
        }
        let routed: (any Error)?
        do {
            try await publishing.value
            try await eventually("the input is empty and everything is routed", timeout: .seconds(240)) {
                count(queues.input) == 0 && count(queues.output) + count(queues.deadLetter) >= total
            }
            routed = nil
        } catch {
            routed = error
        }
        sampling.cancel()
        await sampling.value
        try await TestCluster.script(["restart-node", "1"])
        if let routed {
            print("cluster replicas: \(replicas.map { "\($0.name): \($0.tail(8))" }.joined(separator: "\n"))")
            throw routed
        }
        // Node 1 is back: the survivors stay ready (on the nodes they moved to) and keep routing.
        try await eventually("the surviving replicas are ready with node 1 back", timeout: .seconds(60)) {
            await allReady([ports[0], ports[2]])
        }
        let later = (total..<total + 500).map {
            Array(#"{"message_type":"TEXT","sender_id":"agent_a","message_id":"r\#($0)"}"#.utf8)
        }
        try await TestRabbitMQ.publish(later, to: queues.input, configuration: node3, declaring: false)
        try await eventually("messages sent after the restart are routed", timeout: .seconds(120)) {
            count(queues.input) == 0 && count(queues.output) + count(queues.deadLetter) >= total + later.count
        }
        #expect(
            readySamples.load(ordering: .relaxed) > 0,
            "the surviving replicas were ready again on other nodes; last: \(lastUnready.withLock { $0 })")
        #expect(untruthful.withLock { $0 }.isEmpty, "ready on a dead node: \(untruthful.withLock { $0.prefix(2) })")
        for index in [0, 2] { #expect(await replicas[index].stop() == 0, "\(replicas[index].tail())") }
        let output = await TestRabbitMQ.drain(queues.output, configuration: node3)
        let dead = await TestRabbitMQ.drain(queues.deadLetter, configuration: node3)
        let ids = (output + dead).compactMap(messageID)
        let missing = Set((0..<total + later.count).map { "r\($0)" }).subtracting(ids)
        #expect(missing.isEmpty, "lost \(missing.count): \(missing.sorted().prefix(10))")
        print(
            "cluster replicas: \(total) + \(later.count) messages (the second part after node 1 restarted), 3 replicas, node 1 and replica 1 killed: \(missing.count) lost, \(ids.count - Set(ids).count) duplicates, \(dead.count) dead-lettered"
        )
    }

    /// The default rules with `queues`' output and dead-letter queues, in a file of its own.
    func rulesFile(_ queues: TestQueues) throws -> URL {
        let rules = temporaryPath("replicas-\(queues.id).yaml")
        try queues.defaultRulesText().write(to: rules, atomically: true, encoding: .utf8)
        return rules
    }

    func allReady(_ ports: [Int]) async -> Bool {
        for port in ports where await http("GET", "http://127.0.0.1:\(port)/readyz").status != 200 { return false }
        return true
    }

    /// Three replicas registered with the agent-server simulator, SIGTERMed and started again
    /// one at a time (each ready before the next) while messages keep arriving, each new one
    /// with the status stream down for its first 2 s: nothing is lost, and no replica routes
    /// before its registry is synced (one that did would answer with the ERROR of "no agent
    /// available" or pick an agent the server never had).
    @Test func aRollingRestartUnderLoadLosesNothingAndRoutesOnlySynced() async throws {
        try await TestCluster.requireRunning()
        let queues = TestQueues()
        defer { cleanUp(queues) }
        let rules = try rulesFile(queues)
        defer { try? FileManager.default.removeItem(at: rules) }
        let agentIDs = ["agent_a", "agent_b", "agent_c"]
        let simulator = AgentServerSimulator()
        simulator.setAgents(
            agentIDs.map { AgentStatusRecord(agentID: $0, agentName: $0, isOnline: true, lastSeen: "") })
        try await simulator.start()
        let source = ["--websocket-url", simulator.webSocketURL]
        let node3 = quorum.aimed(at: 2)
        var ports = try (0..<3).map { _ in try freePort() }
        var replicas = try (0..<3).map {
            try replica($0, first: $0, queues: queues, rules: rules, port: ports[$0], agents: source)
        }
        defer { for replica in replicas { replica.send(SIGKILL) } }
        try await eventually("every replica is ready", timeout: .seconds(90)) { await allReady(ports) }

        // Messages keep arriving, 100 every 50 ms, until the restarts are over.
        let sent = Atomic(0)
        let stop = Atomic(false)
        let producer = Task {
            while !stop.load(ordering: .relaxed) {
                let first = sent.load(ordering: .relaxed)
                let batch = (first..<first + 100).map {
                    Array(#"{"message_type":"TEXT","sender_id":"agent_a","message_id":"k\#($0)"}"#.utf8)
                }
                try await TestRabbitMQ.publish(batch, to: queues.input, configuration: node3, declaring: false)
                sent.add(100, ordering: .relaxed)
                try await pace(.milliseconds(50))
            }
        }
        let restarting: (any Error)?
        do {
            for index in replicas.indices {
                replicas[index].send(SIGTERM)
                let status = await replicas[index].waitForExit(timeout: .seconds(30))
                #expect(status == 0, "replica \(index) drained and exited 0: \(replicas[index].tail())")
                // The new replica starts with the status stream down: registered, not synced,
                // with messages waiting. It must not route until the agent list arrives.
                let grpcPort = simulator.grpcPort
                await simulator.stopGRPC()
                ports[index] = try freePort()
                replicas[index] = try replica(
                    index, first: index, queues: queues, rules: rules, port: ports[index], agents: source)
                let port = ports[index]
                try await remains(
                    "replica \(index) not ready without an agent list", for: .seconds(2), every: .milliseconds(200)
                ) {
                    await http("GET", "http://127.0.0.1:\(port)/readyz").status != 200
                }
                try await simulator.startGRPC(port: grpcPort, retryingFor: .seconds(10))
                try await eventually("replica \(index) is back", timeout: .seconds(90)) {
                    await allReady([ports[index]])
                }
            }
            restarting = nil
        } catch {
            restarting = error
        }
        stop.store(true, ordering: .relaxed)
        try await producer.value
        if let restarting { throw restarting }
        let total = sent.load(ordering: .relaxed)
        let count = { (queue: String) in (try? AMQPAdmin.messageCount(queue, configuration: node3)) ?? 0 }
        try await eventually("everything is routed", timeout: .seconds(120)) {
            count(queues.input) == 0 && count(queues.output) + count(queues.deadLetter) >= total
        }
        for replica in replicas { #expect(await replica.stop() == 0, "\(replica.tail())") }
        await simulator.stop()
        let output = await TestRabbitMQ.drain(queues.output, configuration: node3)
        let dead = await TestRabbitMQ.drain(queues.deadLetter, configuration: node3)
        let ids = (output + dead).compactMap(messageID)
        let missing = Set((0..<total).map { "k\($0)" }).subtracting(ids)
        #expect(missing.isEmpty, "lost \(missing.count): \(missing.sorted().prefix(10))")
        #expect(dead.isEmpty, "dead-lettered: \(dead.count)")
        let unsynced = output.compactMap { try? Message(decoding: $0.body) }.filter {
            $0.messageType == "ERROR" || !agentIDs.contains($0.receiverID ?? "")
        }
        #expect(unsynced.isEmpty, "routed without the agent list: \(unsynced.count)")
        print(
            "cluster rolling restart: \(total) messages, 3 replicas restarted one at a time: \(missing.count) lost, \(ids.count - Set(ids).count) duplicates, \(unsynced.count) routed unsynced"
        )
    }
}
