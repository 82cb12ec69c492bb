import Foundation
import TestSupport
import Testing

/// glibc's `memmem` (a GNU extension the Glibc module does not import): a byte search over
/// hundreds of megabytes in well under a second.
@_silgen_name("memmem")
private func memmem(
    _ haystack: UnsafeRawPointer?, _ haystackLength: Int, _ needle: UnsafeRawPointer?, _ needleLength: Int
) -> UnsafeMutableRawPointer?

/// What ships and what depends on what, checked on the built executables and the sources.
@Suite(.timeLimit(.minutes(10))) struct ArchitectureTests {
    /// Modules for trying and measuring, which the product binary must not link.
    static let devModules = [
        "AgentServerSimulator", "BrokerDevTools", "BrowserAutomation", "Histogram", "HummingbirdWebSocket",
        "HummingbirdTLS", "InMemoryTransport",
    ]

    /// The modules of `executable`'s Swift symbols among `modules` (a Swift symbol starts with
    /// `$s`, the length of its module's name and the name). `memmem` over the mapped file: the
    /// binaries are hundreds of megabytes.
    static func linkedModules(_ executable: URL, among modules: [String]) throws -> [String] {
        let binary = try Data(contentsOf: executable, options: .alwaysMapped)
        return binary.withUnsafeBytes { bytes in
            modules.filter { module in
                let symbol = Array("$s\(module.utf8.count)\(module)".utf8)
                return memmem(bytes.baseAddress, bytes.count, symbol, symbol.count) != nil
            }
        }
    }

    /// Checked on the debug build and on the static release build that `make test` makes first.
    /// Read on a thread of its own: hundreds of megabytes must not hold a cooperative thread (a
    /// run of 300 tests on two of them stalled for 11 s while this test read on one).
    @Test func theProductBinaryLinksNoSimulatorBrowserDriverOrBenchmarkCode() async throws {
        let release = repositoryRoot.appendingPathComponent(".build/release/broker")
        let products = [brokerExecutable] + (FileManager.default.fileExists(atPath: release.path) ? [release] : [])
        let (linked, dev) = try await onOwnThread {
            (
                try products.map { ($0.path, try Self.linkedModules($0, among: Self.devModules)) },
                try Self.linkedModules(brokerDevExecutable, among: Self.devModules)
            )
        }
        for (path, modules) in linked { #expect(modules == [], "\(path)") }
        // The same look finds them where they are.
        #expect(dev == Self.devModules)
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
