// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "forgejo-mcp-broker",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fjmcp-broker", targets: ["fjmcp-broker"]),
        .executable(name: "fake-forgejo", targets: ["fake-forgejo"]),
        .executable(name: "demo-mcp-server", targets: ["DemoMCPServer"]),
        .library(name: "BrokerKit", targets: ["BrokerKit"]),
        .library(name: "FakeForgejo", targets: ["FakeForgejo"]),
    ],
    // Direct dependencies are bounded to the minor version that was tested (Package.resolved is
    // deliberately untracked, so a clean clone resolves afresh): a build months from now gets the
    // same minor releases, with their patch fixes, not a new minor with new behaviour. Raise a
    // bound on purpose, together with the tests that ran against it.
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", .upToNextMinor(from: "2.28.1")),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", .upToNextMinor(from: "2.13.0")),
        .package(url: "https://github.com/swift-server/async-http-client", .upToNextMinor(from: "1.37.0")),
        .package(url: "https://github.com/swiftlang/swift-subprocess", .upToNextMinor(from: "1.0.2")),
        .package(url: "https://github.com/groue/GRDB.swift", .upToNextMinor(from: "7.10.0")),
        .package(url: "https://github.com/apple/swift-crypto", .upToNextMinor(from: "4.5.2")),
        .package(url: "https://github.com/apple/swift-argument-parser", .upToNextMinor(from: "1.8.2")),
        .package(url: "https://github.com/apple/swift-log", .upToNextMinor(from: "1.16.2")),
        .package(url: "https://github.com/apple/swift-metrics", .upToNextMinor(from: "2.13.0")),
        .package(url: "https://github.com/swift-server/swift-prometheus", .upToNextMinor(from: "2.4.1")),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", .upToNextMinor(from: "0.2.0")),
        .package(url: "https://github.com/vapor/postgres-nio", .upToNextMinor(from: "1.33.2")),
    ],
    targets: [
        // The pure parsers of untrusted input, with no NIO/Hummingbird/GRDB dependency so the
        // libFuzzer targets in Fuzz/ build from them directly (scripts/fuzz.sh).
        .target(
            name: "BrokerWire",
            dependencies: [],
            swiftSettings: swiftSettings
        ),
        // The Swift runtime's global-enqueue hook, reached at link time (ConcurrencyOnEventLoops).
        .target(name: "CConcurrencyHook"),
        .target(
            name: "BrokerKit",
            dependencies: [
                "BrokerWire",
                "CConcurrencyHook",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FakeForgejo",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fjmcp-broker",
            dependencies: [
                "BrokerKit",
                "FakeForgejo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fake-forgejo",
            dependencies: [
                "FakeForgejo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "DemoMCPServer",
            dependencies: [],
            swiftSettings: swiftSettings
        ),
        // The benchmark's floor: the broker's HTTP stack answering a fixed result (bench/README.md).
        .executableTarget(
            name: "fjmcp-floor",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fjmcp-bench",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BrokerKitTests",
            dependencies: [
                "BrokerKit",
                "FakeForgejo",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BrokerWireTests",
            dependencies: ["BrokerWire"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FakeForgejoTests",
            dependencies: [
                "FakeForgejo",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "BrokerKit",
                "FakeForgejo",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
