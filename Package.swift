// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "bmbill",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "bmbill", targets: ["bmbill"]),
        // For the fuzz targets in Fuzz/ (a package of their own, built with -sanitize=fuzzer).
        // BillingStore is here for FuzzCopyRows, which reaches its COPY row parser through
        // `@_spi(Fuzzing)` only (see CopyTextFuzzing.swift).
        .library(name: "BillingKit", targets: ["BillingCore", "BillingStore", "Reports", "BillingCommands"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // libpq, the PostgreSQL C client library (Debian: libpq-dev).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // The only code that touches libpq.
        .target(name: "PostgresClient", dependencies: ["CLibPQ"]),
        // SHA-256 blocks with the processor's SHA instructions, when it has them.
        .target(name: "CSHA256"),
        // Pure billing rules: no I/O; of ours it imports only CSHA256 (for SHA256.swift).
        .target(name: "BillingCore", dependencies: ["CSHA256"]),
        // SQL in and out: migrations, reading a period's source rows, writing results.
        .target(
            name: "BillingStore",
            dependencies: ["BillingCore", "PostgresClient"]
        ),
        // Atomic exchange of two folders (renameat2), for swapping a period's files in whole.
        .target(name: "CFileSwap"),
        // CSV, JSON and manifest files.
        .target(
            name: "Reports",
            dependencies: ["BillingCore", "CFileSwap", .product(name: "Mustache", package: "swift-mustache")]
        ),
        // The subcommands, settings and exit codes.
        .target(
            name: "BillingCommands",
            dependencies: [
                "BillingCore", "BillingStore", "Reports", "PostgresClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "bmbill", dependencies: ["BillingCommands"]),

        .testTarget(
            name: "BillingCoreTests",
            dependencies: [
                "BillingCore", "Reports",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "BillingCore"]),
        // The COPY text parser on its own (no database).
        .testTarget(name: "BillingStoreTests", dependencies: ["BillingStore", "BillingCore"]),
        // Against a real PostgreSQL (make test starts one): the libpq layer, the store, the CLI.
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["BillingCommands", "BillingStore", "BillingCore", "PostgresClient", "Reports"]
        ),
    ]
)
