// swift-tools-version: 6.1
// Benchmarks of the rule engine and registry (ordo-one/benchmark). A separate package so the
// main build and `swift test` never compile benchmark dependencies.
// Run with `make bench`, or: cd Benchmarks && swift package benchmark
import PackageDescription

let package = Package(
    name: "broker-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "broker", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RuleEngine",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "BrokerCore", package: "broker"),
                .product(name: "RoutingRules", package: "broker"),
            ],
            path: "Benchmarks/RuleEngine",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
