// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "broker",
    // The rule engine and `broker-rules` build on macOS too (a rules repository's CI or a laptop);
    // the daemon, its transports and its tests need Linux (Glibc, eventfd, librabbitmq).
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "broker", targets: ["broker"]),
        // The rules toolchain alone: its dependency graph is the rule engine and the argument parser.
        .executable(name: "broker-rules", targets: ["broker-rules"]),
        // The demo, the agent-server simulator and the benchmarks: for trying and measuring, not shipped.
        .executable(name: "broker-dev", targets: ["broker-dev"]),
        .library(name: "BrokerCore", targets: ["BrokerCore"]),
        .library(name: "RoutingRules", targets: ["RoutingRules"]),
    ],
    // `from:` requirements, so a package that depends on BrokerCore or RoutingRules can resolve
    // them beside its own versions; these are the versions the project is built and tested with.
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // The rule engine: no I/O, no transport.
        .target(name: "BrokerCore"),
        .target(
            name: "RoutingRules",
            dependencies: ["BrokerCore", "CLibYAML"]
        ),

        // The seams and their adapters.
        .target(name: "BrokerTransports", dependencies: ["BrokerCore"]),
        .target(name: "InMemoryTransport", dependencies: ["BrokerTransports"]),
        .systemLibrary(
            name: "CLibYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"]), .brew(["libyaml"])]
        ),
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .target(
            name: "AMQPTransport",
            dependencies: [
                "BrokerCore", "BrokerTransports", "CRabbitMQ", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "NetworkFailures",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "AgentStatusGRPC",
            dependencies: [
                "BrokerCore", "BrokerTransports", "NetworkFailures",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A WebSocket client on SwiftNIO with bounded waits (the agent-server link, the browser driver).
        .target(
            name: "WebSocketClient",
            dependencies: [
                "BrokerTransports",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "ServerLinkWebSocket",
            dependencies: [
                "BrokerCore", "BrokerTransports", "NetworkFailures", "WebSocketClient",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The pipeline and the process.
        .target(
            name: "BrokerRouter",
            dependencies: [
                "BrokerCore", "RoutingRules", "BrokerTransports", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "BrokerDaemon",
            dependencies: [
                "BrokerCore", "RoutingRules", "BrokerTransports", "BrokerRouter",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["Console/Assets"],
            plugins: ["BuildInfoPlugin", "ConsoleAssetsPlugin"]
        ),
        .target(
            name: "BrokerApp",
            dependencies: [
                "BrokerCore", "BrokerRouter", "BrokerTransports", "BrokerDaemon", "AMQPTransport",
                "AgentStatusGRPC", "ServerLinkWebSocket", "WebSocketClient", "RoutingRules", "BrokerCLISupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(name: "BrokerCLISupport"),
        // Headless Chromium over its DevTools protocol: the console's tests and bench-console.
        .target(name: "BrowserAutomation", dependencies: ["BrokerCore", "WebSocketClient"]),
        // validate-rules, test-rules, explain: offered by `broker` and by `broker-rules`.
        .target(
            name: "RulesCommands",
            dependencies: [
                "BrokerCore", "RoutingRules", "BrokerCLISupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "broker-rules", dependencies: ["RulesCommands", "BrokerCLISupport"]),
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .plugin(name: "ConsoleAssetsPlugin", capability: .buildTool()),
        // Code that runs before the Swift runtime starts (SIGHUP ignored from the first instant).
        .target(name: "CStartup"),
        .executableTarget(
            name: "broker",
            dependencies: [
                "CStartup", "RulesCommands", "BrokerApp", "BrokerDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "broker-dev",
            dependencies: [
                "CStartup", "BrokerApp", "BrokerDaemon", "BrokerDevTools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Dev tooling: the simulator, the demo and the benchmarks (`broker-dev`).
        .target(
            name: "AgentServerSimulator",
            dependencies: [
                "BrokerCore", "BrokerTransports", "AgentStatusGRPC", "AMQPTransport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "BrokerDevTools",
            dependencies: [
                "BrokerCore", "RoutingRules", "BrokerTransports", "InMemoryTransport", "AMQPTransport", "BrokerRouter",
                "AgentStatusGRPC", "ServerLinkWebSocket", "AgentServerSimulator", "BrokerDaemon", "BrokerCLISupport",
                "BrowserAutomation", "BrokerApp", "CRabbitMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        // Tests.
        // What every test target shares (processes, polling, fixtures), with no transport in it.
        .target(name: "TestSupport", dependencies: ["BrokerCore"], path: "Tests/TestSupport"),
        // The RabbitMQ node and cluster the test script starts, for the tests that need them.
        .target(
            name: "AMQPTestSupport",
            dependencies: ["TestSupport", "BrokerCore", "BrokerTransports", "AMQPTransport"],
            path: "Tests/AMQPTestSupport"
        ),
        .testTarget(name: "BrokerCoreTests", dependencies: ["BrokerCore"]),
        .testTarget(
            name: "RoutingRulesTests",
            dependencies: [
                "TestSupport", "BrokerCore", "RoutingRules",
                .product(name: "PropertyBased", package: "swift-property-based"),
                // The reference the libyaml event loader is compared with (YAMLLoaderDifferentialTests).
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("Corpus")]
        ),
        .testTarget(name: "BrokerCLITests", dependencies: ["TestSupport"]),
        .testTarget(
            name: "AMQPIntegrationTests",
            dependencies: [
                "TestSupport", "AMQPTestSupport", "BrokerCore", "RoutingRules", "BrokerTransports", "BrokerRouter",
                "AMQPTransport", "AgentServerSimulator", "BrowserAutomation",
            ]
        ),
        .testTarget(
            name: "AgentServerLinkTests",
            dependencies: [
                "TestSupport", "BrokerCore", "BrokerTransports", "AgentStatusGRPC", "ServerLinkWebSocket",
                "WebSocketClient",
                "AgentServerSimulator", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "BrokerDaemonTests",
            dependencies: [
                "TestSupport", "BrokerCore", "BrokerTransports", "InMemoryTransport", "BrokerRouter", "BrokerDaemon",
                "BrokerApp", "AgentServerSimulator", "RoutingRules",
            ]
        ),
        .testTarget(
            name: "BrokerRouterTests",
            dependencies: [
                "TestSupport", "BrokerCore", "RoutingRules", "BrokerTransports", "InMemoryTransport", "BrokerRouter",
            ]
        ),
    ]
)
