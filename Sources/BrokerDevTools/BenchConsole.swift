import AMQPTransport
import ArgumentParser
import BrowserAutomation
import Foundation

/// `broker-dev bench-console`: what an open admin console costs the daemon, and how fast its pages
/// load with a large registry, in a real (headless) browser.
public struct BenchConsole: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "bench-console",
        abstract:
            "Measure the admin console: the daemon's throughput with a page open vs. closed, and page load times.",
        discussion: """
            Runs `broker run --registry` (this executable) with --agents agents on fresh queues \
            (bench_<id>_*) of the RabbitMQ of RABBITMQ_URL, and headless Chromium (Debian's \
            chromium package). First the pages' load times with the broker idle; then rounds of \
            drains of --messages messages, each once with no page open and once with --page open \
            and live (polling every second), best of each compared.
            """
    )

    @Option(help: "Messages per drain.")
    var messages = 20_000

    @Option(help: "Rounds of (closed, open) drains.")
    var rounds = 2

    @Option(help: "Agents in the broker's registry.")
    var agents = 100_000

    @Option(help: "The page kept open during the drains: rules, agents or decisions.")
    var page = "decisions"

    @Option(help: "Rule file (its output and dead-letter queues are redirected).")
    var rules = "rules/default.yaml"

    @Option(help: "The browser.")
    var browser = HeadlessBrowser.defaultExecutable

    static let paths = ["rules": "/console", "agents": "/console/agents", "decisions": "/console/decisions"]

    public func run() async throws {
        guard let path = Self.paths[page] else { throw ValidationError("--page must be rules, agents or decisions") }
        let amqp = try AMQPConfiguration.fromEnvironment()
        let ruleText = try String(contentsOfFile: rules, encoding: .utf8)
        print("broker bench-console: \(agents) agents, \(messages) messages per drain, page \(path), RabbitMQ \(amqp)")
        let chromium = try await HeadlessBrowser.launch(executable: browser)
        do {
            try await measure(chromium, path: path, amqp: amqp, ruleText: ruleText)
        } catch {
            await chromium.close()
            throw error
        }
        await chromium.close()
    }

    private func measure(_ chromium: HeadlessBrowser, path: String, amqp: AMQPConfiguration, ruleText: String)
        async throws
    {
        let idle = DrainRun(messages: 1, prefetch: 256, agents: agents)
        _ = try await idle.measure(replicas: 1, amqp: amqp, ruleText: ruleText) { ports in
            try await pageLoads(chromium, base: "http://127.0.0.1:\(ports[0])")
        }
        let drain = DrainRun(messages: messages, prefetch: 256, agents: agents)
        var closed: [DrainRun.Result] = []
        var open: [DrainRun.Result] = []
        for round in 1...max(1, rounds) {
            await Bench.waitForIdleRabbitMQ()
            try await chromium.open("about:blank")
            closed.append(try await drain.measure(replicas: 1, amqp: amqp, ruleText: ruleText))
            print("  round \(round), no page open:  \(Self.describe(closed.last!))")
            await Bench.waitForIdleRabbitMQ()
            open.append(
                try await drain.measure(replicas: 1, amqp: amqp, ruleText: ruleText) { ports in
                    try await chromium.open("http://127.0.0.1:\(ports[0])\(path)")
                })
            print("  round \(round), \(page) page open: \(Self.describe(open.last!))")
        }
        let best = { (runs: [DrainRun.Result]) in runs.max { $0.rate < $1.rate }! }
        print(
            String(
                format:
                    "throughput: %.0f msg/s with no page open, %.0f msg/s with the %@ page open (%+.1f%%, best of %d)",
                best(closed).rate, best(open).rate, page, (best(open).rate / best(closed).rate - 1) * 100, rounds))
    }

    /// Each page's load time (navigation to its content drawn), and the agents queries' times.
    private func pageLoads(_ chromium: HeadlessBrowser, base: String) async throws {
        let pages: [(name: String, path: String, ready: String)] = [
            ("rules", "/console", "document.querySelectorAll('path.edge').length > 0"),
            ("agents", "/console/agents", "document.querySelectorAll('#agent-rows tr').length === 100"),
            ("decisions", "/console/decisions", "document.querySelector('li.decision')"),
            ("try it", "/console/try", "document.getElementById('try-form')"),
        ]
        for page in pages {
            var times: [Double] = []
            for _ in 0..<5 {
                try await chromium.open("about:blank")
                let start = ContinuousClock.now
                try await chromium.open(base + page.path, timeout: .seconds(60))
                try await chromium.waitFor(page.ready, what: "the \(page.name) page shows", timeout: .seconds(60))
                times.append(Self.milliseconds(ContinuousClock.now - start))
            }
            print(
                String(format: "  %@ page with %d agents: %.0f ms (median of 5)", page.name, agents, Self.median(times))
            )
        }
        try await chromium.open(base + "/console/agents")
        for query in ["offset=99900&limit=100", "q=agent_9999&limit=100", "sort=decisions&order=desc&limit=100"] {
            let timing = """
                (async () => { const t = []; for (let i = 0; i < 5; i++) { const s = performance.now(); \
                await (await fetch('/agents?\(query)')).json(); t.push(performance.now() - s) } \
                return t.sort((a, b) => a - b)[2] })()
                """
            let median = try await chromium.evaluate(timing).numericValue ?? .nan
            print(
                String(
                    format: "  /agents?%@ with %d agents: %.0f ms (median of 5, from the page)", query, agents, median))
        }
    }

    static func describe(_ result: DrainRun.Result) -> String {
        String(format: "%.0f msg/s, broker %.1f µs/msg", result.rate, result.brokerCPU * 1e6)
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}
