// swift-tools-version:6.1
import PackageDescription

// The tiers, bottom up, each a folder under Sources/ and a section below. A target uses only
// the tiers beneath it; `scripts/test` builds with --explicit-target-dependency-import-check,
// so an import that this file does not list fails the build.
//
//   CModules/     Debian's C libraries as system-library modules (headers, pkg-config, apt)
//   Wrappers/     one Swift wrapper per C library, and the SQL protocol with its two drivers
//   Formats/      pure formats: JSON, Apple's pass, Google Wallet's resources (no storage, no I/O)
//   Rules/        the business's rules, pure (points, messages, what a change causes); the store
//                 enforces them where only a statement can, the domain applies the rest
//   Store/        schema, migrations, update tags, the job queue and its typed jobs (SQL protocol only)
//   Domain/       the business's operations: tenants, templates, cards, wallet devices, campaigns
//   Adapters/     the domain's outside faces: HTTP (over the domain only), APNs, Google Wallet
//   StandIns/     local APNs and Google that speak the real protocols, for tests, benchmarks, the demo
//   CommandLine/  `passline`: configuration read once, the object graph, one ServiceGroup
//   Testing/      fixtures and helper processes for the tests
let ssl = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")

func cModule(_ name: String, pkgConfig: String? = nil, apt: String? = nil) -> Target {
    .systemLibrary(name: name, path: "Sources/CModules/\(name)", pkgConfig: pkgConfig, providers: apt.map { [.apt([$0])] })
}

let package = Package(
    name: "Passline",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "passline", targets: ["passline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Without its default traits: swift-configuration and full Foundation are not needed here.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // One lifecycle for the server and the workers (Hummingbird builds on it already).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // The APNs stand-in only: an HTTP/2 server over TLS that checks client certificates.
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.40.0"),
        // The web app's server-rendered pages: logic-less templates, escaped by default.
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
    ],
    targets: [
        // MARK: CModules
        cModule("COpenSSL", pkgConfig: "openssl", apt: "libssl-dev"),
        cModule("CSQLite", pkgConfig: "sqlite3", apt: "libsqlite3-dev"),
        cModule("CLibpq", pkgConfig: "libpq", apt: "libpq-dev"),
        cModule("CQRencode", pkgConfig: "libqrencode", apt: "libqrencode-dev"),
        cModule("CZlib", pkgConfig: "zlib", apt: "zlib1g-dev"),
        cModule("CCurl", pkgConfig: "libcurl", apt: "libcurl4-openssl-dev"),
        cModule("CLibzip", pkgConfig: "libzip", apt: "libzip-dev"),
        cModule("CZbar", pkgConfig: "zbar", apt: "libzbar-dev"),
        // glibc's allocator settings, and naming a thread (headers only; nothing to link).
        cModule("CMalloc"),
        cModule("CThreadName"),

        // MARK: Wrappers — nothing above them imports a C module.
        .target(name: "PasslineCrypto", dependencies: ["COpenSSL"], path: "Sources/Wrappers/PasslineCrypto"),
        .target(name: "PasslineZip", dependencies: ["CLibzip"], path: "Sources/Wrappers/PasslineZip"),
        .target(name: "PasslinePNG", dependencies: ["CZlib"], path: "Sources/Wrappers/PasslinePNG"),
        .target(name: "PasslineQR", dependencies: ["CQRencode", "PasslinePNG"], path: "Sources/Wrappers/PasslineQR"),
        // Reads the QR codes the front desk's camera sees.
        .target(name: "PasslineBarcodeReader", dependencies: ["CZbar"], path: "Sources/Wrappers/PasslineBarcodeReader"),
        // The one outbound HTTP client: libcurl's multi interface, HTTP/2, on threads of its own.
        .target(name: "PasslineHTTPClient", dependencies: ["CCurl", "CThreadName"], path: "Sources/Wrappers/PasslineHTTPClient"),
        // One SQL protocol, and a driver per database, each the one wrapper over its C library.
        .target(name: "PasslineSQL", path: "Sources/Wrappers/PasslineSQL"),
        .target(name: "PasslineSQLite", dependencies: ["CSQLite", "CThreadName", "PasslineSQL"], path: "Sources/Wrappers/PasslineSQLite"),
        .target(name: "PasslinePostgres", dependencies: ["CLibpq", "PasslineSQL"], path: "Sources/Wrappers/PasslinePostgres"),
        // Opens the store PASSLINE_DATABASE_URL names, with the right driver.
        .target(name: "PasslineDatabase", dependencies: ["PasslineSQL", "PasslineSQLite", "PasslinePostgres"], path: "Sources/Wrappers/PasslineDatabase"),

        // MARK: Formats — pure Swift.
        .target(name: "PasslineJSON", path: "Sources/Formats/PasslineJSON"),
        // Templates, placeholders, pass.json rules, the builder and the verifier.
        .target(name: "ApplePass", dependencies: ["PasslineJSON", "PasslineCrypto", "PasslinePNG", "PasslineZip"], path: "Sources/Formats/ApplePass"),
        // Google Wallet's loyalty classes and objects, save-link JWTs and the token grant.
        .target(name: "GoogleWallet", dependencies: ["PasslineJSON", "PasslineCrypto"], path: "Sources/Formats/GoogleWallet"),

        // MARK: Rules — pure values and functions; the store enforces a balance's bounds under
        // its row's lock, with the values from here.
        .target(name: "LoyaltyRules", dependencies: ["PasslineJSON"], path: "Sources/Rules/LoyaltyRules"),

        // MARK: Store — on the SQL protocol only.
        .target(name: "PasslineStore", dependencies: ["LoyaltyRules", "PasslineSQL", "PasslineJSON", "PasslineCrypto"], path: "Sources/Store/PasslineStore"),

        // MARK: Domain — whole operations over the rules and the store; the adapters call these.
        .target(
            name: "PasslineService",
            dependencies: ["ApplePass", "GoogleWallet", "LoyaltyRules", "PasslineCrypto", "PasslineJSON", "PasslinePNG", "PasslineSQL", "PasslineStore", logging, lifecycle],
            path: "Sources/Domain/PasslineService"
        ),

        // MARK: Adapters
        // The staff's web app under /app: sign-in, the front desk, the manager's pages. Thin
        // handlers over the domain, pages rendered from templates on the server.
        .target(
            name: "PasslineWebApp",
            dependencies: ["ApplePass", "LoyaltyRules", "PasslineService", "PasslineCrypto", "PasslineJSON", "PasslineQR", "PasslineBarcodeReader", hummingbird, logging,
                           .product(name: "Mustache", package: "swift-mustache")],
            path: "Sources/Adapters/PasslineWebApp",
            resources: [.copy("Resources/templates"), .copy("Resources/static")]
        ),
        // HTTP: the partner API, Apple's web service, admin, public card pages, metrics. Thin
        // handlers over the domain; no store, no SQL.
        .target(
            name: "PasslineServer",
            dependencies: [
                "PasslineService", "LoyaltyRules", "PasslineCrypto", "PasslineJSON", "PasslineQR", "ApplePass", "GoogleWallet", "PasslineWebApp", hummingbird, logging,
                // The peer's address of a request (Hummingbird builds on it already).
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/Adapters/PasslineServer",
            resources: [.copy("Resources/openapi.json")]
        ),
        // Sends the pushes that changes enqueue, and acts on APNs' answers.
        .target(
            name: "PasslinePush",
            dependencies: ["ApplePass", "LoyaltyRules", "PasslineHTTPClient", "PasslineJSON", "PasslineService", "PasslineSQL", "PasslineStore", logging, lifecycle],
            path: "Sources/Adapters/PasslinePush"
        ),
        // Keeps Google Wallet objects in step with cards, over the REST API.
        .target(
            name: "PasslineGoogle",
            dependencies: [
                "ApplePass", "GoogleWallet", "LoyaltyRules", "PasslineCrypto", "PasslineHTTPClient", "PasslineJSON", "PasslineService", "PasslineSQL", "PasslineStore",
                logging, lifecycle,
            ],
            path: "Sources/Adapters/PasslineGoogle"
        ),

        // Delivers the events the outbox holds to the tenants' webhook endpoints, signed.
        .target(
            name: "PasslineWebhooks",
            dependencies: ["LoyaltyRules", "PasslineCrypto", "PasslineHTTPClient", "PasslineJSON", "PasslineService", "PasslineSQL", "PasslineStore", logging, lifecycle],
            path: "Sources/Adapters/PasslineWebhooks"
        ),

        // MARK: StandIns
        // APNs: real HTTP/2 and TLS with client certificates on the wire.
        .target(
            name: "PasslineAPNsSim",
            dependencies: [
                "PasslineCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                ssl,
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            path: "Sources/StandIns/PasslineAPNsSim"
        ),
        // Google: the token endpoint and the Wallet Objects API over HTTPS.
        .target(
            name: "PasslineGoogleSim",
            dependencies: ["GoogleWallet", "PasslineCrypto", "PasslineJSON", hummingbird, .product(name: "HummingbirdTLS", package: "hummingbird"), ssl, logging],
            path: "Sources/StandIns/PasslineGoogleSim"
        ),

        // MARK: CommandLine — a library so tests can drive it, and a one-line executable.
        .target(
            name: "PasslineCLI",
            dependencies: [
                "ApplePass", "LoyaltyRules", "PasslineCrypto", "PasslineDatabase", "PasslineStore", "PasslineQR", "PasslineService", "PasslineServer",
                "PasslinePush", "PasslineHTTPClient", "PasslineAPNsSim", "PasslineSQLite", "PasslineGoogle", "PasslineGoogleSim", "GoogleWallet", "PasslineWebhooks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), hummingbird, lifecycle, logging,
            ],
            path: "Sources/CommandLine/PasslineCLI"
        ),
        .executableTarget(
            name: "passline",
            dependencies: ["PasslineCLI", "CMalloc", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/CommandLine/passline"
        ),

        // MARK: Testing
        // Fixtures shared by the tests (a cached development identity, temporary folders, subprocesses).
        .target(name: "PasslineTestSupport", dependencies: ["ApplePass", "PasslineCrypto", "PasslineSQL", "PasslineSQLite", "PasslinePostgres", "PasslineQR"],
                path: "Sources/Testing/PasslineTestSupport"),
        // A second process for the crash tests: it claims jobs and waits to be killed.
        .executableTarget(name: "PasslineTestClaimer", dependencies: ["PasslineDatabase", "PasslineStore"], path: "Sources/Testing/PasslineTestClaimer"),

        // MARK: Tests, a target a module or adapter
        .testTarget(name: "PasslineCryptoTests", dependencies: ["PasslineCrypto", "PasslineTestSupport"]),
        .testTarget(name: "PasslineZipTests", dependencies: ["PasslineZip", "PasslineTestSupport"]),
        .testTarget(name: "PasslineJSONTests", dependencies: ["PasslineJSON", "PasslineTestSupport"]),
        .testTarget(name: "GoogleWalletTests", dependencies: ["GoogleWallet", "PasslineCrypto", "PasslineJSON", "PasslineTestSupport"]),
        .testTarget(name: "PasslineQRTests", dependencies: ["PasslineQR", "PasslinePNG", "PasslineBarcodeReader", "PasslineTestSupport"]),
        .testTarget(name: "ApplePassTests", dependencies: ["ApplePass", "PasslineCrypto", "PasslineZip", "PasslineJSON", "PasslineTestSupport"]),
        .testTarget(name: "LoyaltyRulesTests", dependencies: ["LoyaltyRules", "PasslineJSON", "PasslineTestSupport"]),
        .testTarget(name: "PasslineStoreTests", dependencies: ["LoyaltyRules", "PasslineStore", "PasslineService", "PasslineSQL", "PasslineDatabase", "PasslineTestSupport"]),
        .testTarget(name: "PasslineSQLTests", dependencies: ["PasslineSQL", "PasslineSQLite", "PasslinePostgres", "PasslineTestSupport"]),
        .testTarget(name: "PasslineServiceTests", dependencies: ["LoyaltyRules", "PasslineService", "PasslineDatabase", "PasslineStore", "PasslineSQL", "PasslineCrypto", "ApplePass", "PasslineJSON", "PasslineTestSupport", logging]),
        .testTarget(
            name: "PasslineServerTests",
            dependencies: [
                "LoyaltyRules", "PasslineServer", "PasslineService", "PasslineStore", "PasslineSQL", "PasslineSQLite", "PasslineCrypto", "PasslineTestSupport", "ApplePass", "PasslineZip", "GoogleWallet",
                "PasslineJSON", "PasslineWebApp",
                .product(name: "Hummingbird", package: "hummingbird"),
                // The router test client: routing tests without a port.
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "PasslinePushTests",
            dependencies: [
                "LoyaltyRules", "PasslinePush", "PasslineHTTPClient", "PasslineAPNsSim", "PasslineSQLite", "PasslineGoogle", "PasslineGoogleSim", "GoogleWallet", "PasslineServer", "PasslineService", "PasslineStore", "PasslineSQL",
                "PasslineCrypto", "PasslineTestSupport", "ApplePass", "PasslineZip",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "PasslineGoogleTests",
            dependencies: [
                "LoyaltyRules", "PasslineGoogle", "PasslineGoogleSim", "GoogleWallet", "PasslineAPNsSim", "PasslineHTTPClient", "PasslineServer", "PasslineService",
                "PasslineStore", "PasslineSQL", "PasslineCrypto", "PasslineJSON", "PasslineTestSupport", "ApplePass", "PasslineZip",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "PasslineWebhooksTests",
            dependencies: [
                "LoyaltyRules", "PasslineWebhooks", "PasslineHTTPClient", "PasslineServer", "PasslineService", "PasslineStore", "PasslineSQL", "PasslineCrypto",
                "PasslineJSON", "PasslineTestSupport", "PasslineZip",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(name: "PasslineHTTPClientTests", dependencies: ["PasslineHTTPClient", "PasslineAPNsSim", "PasslineTestSupport"]),
        .testTarget(name: "PasslineCLITests", dependencies: ["LoyaltyRules", "ApplePass", "PasslineCrypto", "PasslineZip", "PasslineDatabase", "PasslineTestSupport", "PasslineAPNsSim", "PasslineService", "PasslineStore", "PasslineSQL", "PasslineGoogleSim", "GoogleWallet", "PasslineJSON", "PasslinePush"]),
    ]
)
