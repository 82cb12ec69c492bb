import Foundation
import TestSupport
import Testing

/// What ships and what depends on what, checked on the built executables and the sources.
@Suite(.timeLimit(.minutes(10))) struct ArchitectureTests {
    /// Modules for trying and measuring, which the product binary must not link.
    static let devModules = [
        "AgentServerSimulator", "BrokerDevTools", "BrowserAutomation", "Histogram", "HummingbirdWebSocket",
        "HummingbirdTLS", "InMemoryTransport",
    ]

    /// The modules of `executable`'s Swift symbols among `modules` (a Swift symbol starts with
    /// `$s`, the length of its module's name and the name).
    func linkedModules(_ executable: URL, among modules: [String]) throws -> [String] {
        let binary = try Data(contentsOf: executable, options: .alwaysMapped)
        return modules.filter { binary.range(of: Data("$s\($0.utf8.count)\($0)".utf8)) != nil }
    }

    /// Checked on the debug build and on the static release build that `make test` makes first.
    @Test func theProductBinaryLinksNoSimulatorBrowserDriverOrBenchmarkCode() throws {
        let release = repositoryRoot.appendingPathComponent(".build/release/broker")
        for binary in [brokerExecutable] + (FileManager.default.fileExists(atPath: release.path) ? [release] : []) {
            #expect(try linkedModules(binary, among: Self.devModules) == [], "\(binary.path)")
        }
        // The same look finds them where they are.
        #expect(try linkedModules(brokerDevExecutable, among: Self.devModules) == Self.devModules)
    }

    /// The modules that speak to a particular system: only the composition root (`BrokerApp`),
    /// the dev tools and the adapters themselves import them.
    static let adapterModules = [
        "AMQPTransport", "CRabbitMQ", "InMemoryTransport", "AgentStatusGRPC", "ServerLinkWebSocket", "WebSocketClient",
        "AgentServerSimulator", "NIOSSL", "GRPCCore", "GRPCNIOTransportHTTP2",
    ]

    /// The modules `target`'s sources import.
    func imports(of target: String) throws -> Set<String> {
        let directory = repositoryRoot.appendingPathComponent("Sources/\(target)")
        let files =
            FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
        #expect(!files.isEmpty, "no sources in \(directory.path)")
        var modules: Set<String> = []
        for file in files {
            for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") {
                let words = line.split(separator: " ").filter { !$0.hasPrefix("@") }
                if words.count >= 2, words[0] == "import" { modules.insert(String(words[1])) }
            }
        }
        return modules
    }

    @Test(arguments: ["BrokerCore", "RoutingRules", "BrokerTransports", "BrokerRouter", "BrokerDaemon"])
    func theCoreImportsNoAdapter(_ target: String) throws {
        let adapters = try imports(of: target).intersection(Self.adapterModules)
        #expect(adapters.isEmpty, "\(target) imports \(adapters.sorted())")
    }

    @Test func theCompositionRootIsWhereTheAdaptersMeet() throws {
        let imported = try imports(of: "BrokerApp")
        #expect(imported.isSuperset(of: ["AMQPTransport", "AgentStatusGRPC", "ServerLinkWebSocket"]))
    }
}
