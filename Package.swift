// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "broker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "broker", targets: ["broker"]),
        .library(name: "BrokerCore", targets: ["BrokerCore"]),
        .library(name: "RoutingRules", targets: ["RoutingRules"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", exact: "2.0.1"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", exact: "0.2.0"),
    ],
    targets: [
        .target(name: "BrokerCore"),
        .target(
            name: "RoutingRules",
            dependencies: ["BrokerCore", .product(name: "Yams", package: "Yams")]
        ),
        .target(name: "BrokerTransports", dependencies: ["BrokerCore"]),
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .target(
            name: "AMQPTransport",
            dependencies: ["BrokerTransports", "CRabbitMQ", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "BrokerRouter",
            dependencies: ["BrokerCore", "RoutingRules", "BrokerTransports"]
        ),
        .executableTarget(
            name: "broker",
            dependencies: [
                "BrokerCore", "RoutingRules", "BrokerTransports", "BrokerRouter", "AMQPTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "BrokerCoreTests", dependencies: ["BrokerCore"]),
        .testTarget(
            name: "RoutingRulesTests",
            dependencies: [
                "BrokerCore", "RoutingRules",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Corpus")]
        ),
        .testTarget(name: "BrokerCLITests", dependencies: ["broker"]),
        .testTarget(
            name: "AMQPIntegrationTests",
            dependencies: ["BrokerCore", "RoutingRules", "BrokerTransports", "BrokerRouter", "AMQPTransport"]
        ),
        .testTarget(
            name: "BrokerRouterTests",
            dependencies: ["BrokerCore", "RoutingRules", "BrokerTransports", "BrokerRouter"]
        ),
    ]
)
