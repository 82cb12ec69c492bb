import Foundation

extension Bench {
    /// The rule file (output and dead letters redirected to `queues`) and the registry file a
    /// `broker run` of a benchmark reads.
    struct RunFiles {
        let rules: URL
        let registry: URL

        /// `agents` online agents (`agent_a`, `agent_b`, `agent_c` when 3; numbered otherwise),
        /// each with a `load` metric.
        init(queues: Queues, ruleText: String, agents: Int = 3) throws {
            let directory = FileManager.default.temporaryDirectory
            rules = directory.appendingPathComponent("bench-rules-\(queues.id).yaml")
            registry = directory.appendingPathComponent("bench-registry-\(queues.id).yaml")
            try ruleText.replacingOccurrences(of: "output: server_input_queue", with: "output: \(queues.output)")
                .replacingOccurrences(of: "dead_letter: broker_dead_letter", with: "dead_letter: \(queues.dead)")
                .write(to: rules, atomically: true, encoding: .utf8)
            let ids = agents == 3 ? ["agent_a", "agent_b", "agent_c"] : (0..<agents).map { "agent_\($0)" }
            var text = "agents:\n"
            for (number, id) in ids.enumerated() {
                text +=
                    "  - {agent_id: \(id), agent_name: Agent \(number), is_online: true, metrics: {load: \"0.\(number % 10)\"}}\n"
            }
            try text.write(to: registry, atomically: true, encoding: .utf8)
        }

        /// `broker run` on `input` with these files (no metadata queue, no rule watching), its
        /// admin server on `adminPort` of 127.0.0.1 (0: any).
        func runArguments(input: String, adminPort: Int = 0) -> [String] {
            [
                "run", "--rules", rules.path, "--registry", registry.path, "--input-queue", input,
                "--metadata-queue", "", "--admin-address", "127.0.0.1:\(adminPort)", "--no-watch-rules",
            ]
        }

        func remove() {
            try? FileManager.default.removeItem(at: rules)
            try? FileManager.default.removeItem(at: registry)
        }
    }

    /// A port of 127.0.0.1 nothing listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0 else { throw BenchError("no free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits (up to 60 s) until every broker's admin port accepts connections (the broker has
    /// started: the admin server comes up once its rules and transport are ready).
    static func waitUntilAnswering(ports: [Int], processes: [Process]) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        for (port, process) in zip(ports, processes) {
            while !(await answers(port)) {
                guard process.isRunning else { throw BenchError("a broker exited during start-up") }
                guard ContinuousClock.now < deadline else { throw BenchError("a broker did not start within 60 s") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    private static func answers(_ port: Int) async -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    struct BenchError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
