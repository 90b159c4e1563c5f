// swift-tools-version: 6.1
// libFuzzer targets for bmbill's parsers, COPY row reader and CSV writer: `make fuzz` builds them with
// -sanitize=fuzzer and runs each for a while. Kept apart so the main build stays lean.
import PackageDescription

let fuzz: SwiftSetting = .unsafeFlags(["-parse-as-library"])
// gold trips over the fuzzer runtime's debug info; lld links it.
let lld: LinkerSetting = .unsafeFlags(["-use-ld=lld"])

let package = Package(
    name: "bmbill-fuzz",
    // make fuzz links the repository here, so its package identity is "bmbill" whatever
    // the clone's folder is called.
    dependencies: [.package(path: "../.build-fuzz/link/bmbill")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzParsers", dependencies: ["FuzzDriver", .product(name: "BillingKit", package: "bmbill")], swiftSettings: [fuzz], linkerSettings: [lld]),
        .executableTarget(name: "FuzzCSV", dependencies: ["FuzzDriver", .product(name: "BillingKit", package: "bmbill")], swiftSettings: [fuzz], linkerSettings: [lld]),
        .executableTarget(name: "FuzzCopyRows", dependencies: ["FuzzDriver", .product(name: "BillingKit", package: "bmbill")], swiftSettings: [fuzz], linkerSettings: [lld]),
        .executableTarget(name: "FuzzArguments", dependencies: ["FuzzDriver", .product(name: "BillingKit", package: "bmbill")], swiftSettings: [fuzz], linkerSettings: [lld]),
    ]
)
