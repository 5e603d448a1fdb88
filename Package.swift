// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "RefundFlow",
    // Int128 (exact Decimal(19,4) money and totals) needs macOS 15 on Apple platforms.
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RefundFlow", targets: ["RefundFlow"]),
        .executable(name: "refundflow", targets: ["RefundFlowCLI"]),
    ],
    dependencies: [
        // The `refundflow` command line: subcommands, options, help and usage errors.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Pipeline YAML: composing a node tree that keeps line:column marks for diagnostics.
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // MD5 for the vendors' request signs and SHA-256 for input file fingerprints.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        // Sending to the ERP and TOP: HTTP/1.1 with connection pooling and connect/read timeouts.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // `refundflow sandbox`: the local HTTP stand-in for the ERP and TOP.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Event loops and byte buffers under the HTTP client and the sandbox server.
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        // Levelled logging for the sandbox server (quiet by default).
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The sandbox's state (and the run ledger) in SQLite, with WAL and transactions.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // libxml2's streaming reader for the XML reader; headers are wrapped in shim.h (ICU workaround).
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        // zlib's streaming inflate: inputs may be gzip-compressed (refunds.csv.gz) or .xlsx workbooks (deflated ZIP parts).
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "RefundFlow",
            dependencies: [
                "CLibXML2",
                "CZlib",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        // The sandbox lives apart so that the library does not carry an HTTP server.
        .target(
            name: "RefundFlowSandbox",
            dependencies: [
                "RefundFlow",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        .executableTarget(
            name: "RefundFlowCLI",
            dependencies: [
                "RefundFlow",
                "RefundFlowSandbox",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        .testTarget(
            name: "RefundFlowTests",
            dependencies: ["RefundFlow", "RefundFlowSandbox", .product(name: "GRDB", package: "GRDB.swift")],
            resources: [.copy("Fixtures")],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
