import ArgumentParser
import BrokerCLISupport
import BrokerCore
import BrokerDaemon
import BrokerTransports
import Dispatch
import Foundation
import InMemoryTransport
import Logging

/// `broker-dev bench-reload`: what a rule reload costs a broker under full load.
public struct BenchReload: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "bench-reload",
        abstract: "Measure reloading a large rule file under full load (in-memory queues).",
        discussion: """
            Runs the daemon on in-memory queues at full speed, rewrites a rule file of --routes routes \
            every 2 s, and reports throughput per 100 ms window around each reload and the time from \
            the file write to the new rule set being in force.
            """
    )

    @Option(help: "Routes in the reloaded rule file.")
    var routes = 1_000

    @Option(help: "Reloads to measure.")
    var reloads = 5

    static func ruleText(routes: Int, generation: Int) -> String {
        var text = "version: 1\nroutes:\n"
        for i in 0..<routes {
            text += "  - name: r\(i)\n    when: { message.message_type: T\(i % 10), message.sender_id: s\(i) }\n"
            text += "    set: { generation: \"\(generation)\" }\n    deliver: as_is\n"
        }
        text += "  - name: chat\n    when: { message.message_type: TEXT }\n    set: { generation: \"\(generation)\" }\n"
        text += "    select: { exclude: [sender], strategy: random }\n"
        return text
    }

    public func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        do { try await measure() } catch { printError("error: \(error)") }
    }

    func measure() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-reload-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("routes.yaml")
        try Self.ruleText(routes: routes, generation: 0).write(to: file, atomically: true, encoding: .utf8)
        let queues = InMemoryQueues()
        var configuration = DaemonConfiguration(
            transport: InMemoryTransport(queues: queues), agents: .file("rules/registries/three-agents.yaml"))
        configuration.rules = [directory.path]
        configuration.metadataQueue = ""
        configuration.admin.port = 0
        let daemon = try Daemon(configuration: configuration)
        let running = Task { try await daemon.run() }
        let body = Array(#"{"message_type":"TEXT","sender_id":"web_1","message_id":"x","text_payload":"hi"}"#.utf8)
        let producer = Task {
            while !Task.isCancelled {
                if queues.contents(of: "broker_input_queue").count < 2_000 {
                    for _ in 0..<500 { queues.enqueue(body, to: "broker_input_queue") }
                }
                _ = queues.drain("server_input_queue")
                await Task.yield()
            }
        }
        func window() async -> Double {
            let before = daemon.router.statistics.settled
            try? await Task.sleep(for: .milliseconds(100))
            return Double(daemon.router.statistics.settled - before) * 10
        }
        for _ in 0..<10 { _ = await window() }  // warm up
        var effects: [Duration] = []
        var worstDip = 0.0
        var dipWindows = 0
        for generation in 1...reloads {
            var baseline: [Double] = []
            for _ in 0..<10 { baseline.append(await window()) }
            let steady = baseline.sorted()[baseline.count / 2]
            let hash = daemon.rulesStatus.hash
            let written = Date()
            try Self.ruleText(routes: routes, generation: generation).write(to: file, atomically: true, encoding: .utf8)
            // The reloader records when the new rules went live; polling only notices it (the
            // poller's own wake-ups wait for a busy task pool, so they do not time the reload).
            let watch = Task { () -> Duration? in
                while Date().timeIntervalSince(written) < 5 {
                    let status = daemon.rulesStatus
                    if status.hash != hash { return .seconds(status.loadedAt.timeIntervalSince(written)) }
                    try? await Task.sleep(for: .milliseconds(1))
                }
                return nil
            }
            var after: [Double] = []
            for _ in 0..<20 { after.append(await window()) }
            let effect = await watch.value
            effects.append(effect ?? .seconds(5))
            let dips = after.map { max(0, 1 - $0 / steady) }
            worstDip = max(worstDip, dips.max() ?? 0)
            dipWindows = max(dipWindows, dips.filter { $0 > 0.05 }.count)
            print(
                String(
                    format: "reload %d: steady %.0f msg/s; windows after: %@; effect in %@", generation, steady,
                    after.prefix(12).map { String(format: "%.0f", $0) }.joined(separator: " "),
                    "\(effect ?? .seconds(5))"))
        }
        producer.cancel()
        daemon.stop()
        try await running.value
        print(
            String(
                format:
                    "%d routes: worst 100 ms window %.0f%% below steady; at most %d windows (%.1f s) more than 5%% below; reload-to-effect max %@",
                routes, worstDip * 100, dipWindows, Double(dipWindows) / 10, "\(effects.max() ?? .zero)"))
    }
}
