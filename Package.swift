// swift-tools-version:6.1
import PackageDescription

// Layers, bottom up: C modules (system libraries) → one Swift wrapper each →
// formats (ApplePass) → command line. Nothing above a wrapper imports its C module.
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
        // The APNs stand-in only: an HTTP/2 server over TLS that checks client certificates.
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.40.0"),
    ],
    targets: [
        // C libraries from Debian, each behind a system-library target.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CLibpq",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CQRencode",
            pkgConfig: "libqrencode",
            providers: [.apt(["libqrencode-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // glibc's allocator settings, and naming a thread (headers only; nothing to link).
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(name: "CThreadName"),
        .systemLibrary(
            name: "CLibzip",
            pkgConfig: "libzip",
            providers: [.apt(["libzip-dev"])]
        ),

        // One Swift wrapper per C library.
        .target(name: "PasslineCrypto", dependencies: ["COpenSSL"]),
        .target(name: "PasslineZip", dependencies: ["CLibzip"]),
        .target(name: "PasslinePNG", dependencies: ["CZlib"]),
        .target(name: "PasslineQR", dependencies: ["CQRencode", "PasslinePNG"]),
        // The one outbound HTTP client: libcurl's multi interface, HTTP/2, on a thread of its own.
        .target(name: "PasslineHTTPClient", dependencies: ["CCurl", "CThreadName"]),

        // The local APNs stand-in (tests, benchmarks, the demo): real HTTP/2 and TLS on the wire.
        .target(
            name: "PasslineAPNsSim",
            dependencies: [
                "PasslineCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ]
        ),

        // The local Google Wallet stand-in: the token endpoint and the Wallet Objects API over HTTPS.
        .target(
            name: "PasslineGoogleSim",
            dependencies: [
                "GoogleWallet", "PasslineCrypto", "PasslineJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // One SQL protocol, and a driver per database, each the one wrapper over its C library.
        .target(name: "PasslineSQL"),
        .target(name: "PasslineSQLite", dependencies: ["CSQLite", "CThreadName", "PasslineSQL"]),
        .target(name: "PasslinePostgres", dependencies: ["CLibpq", "PasslineSQL"]),

        // Schema, migrations, update tags and the job queue, on the SQL protocol only.
        .target(name: "PasslineStore", dependencies: ["PasslineSQL", "PasslineJSON", "PasslineCrypto"]),

        // The domain: tenants, keys, secrets at rest (more to come with the server).
        .target(name: "PasslineService", dependencies: ["ApplePass", "GoogleWallet", "PasslineCrypto", "PasslineJSON", "PasslineSQL", "PasslineStore", .product(name: "Logging", package: "swift-log")]),

        // HTTP: Apple's pass web service, health, and (to come) the partner API. Thin handlers.
        .target(
            name: "PasslineServer",
            dependencies: [
                "PasslineService", "PasslineStore", "PasslineSQL", "PasslineCrypto", "PasslineJSON", "PasslineQR", "ApplePass", "GoogleWallet",
                .product(name: "Hummingbird", package: "hummingbird"),
                // The peer's address of a request (Hummingbird builds on it already).
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            resources: [.copy("Resources/openapi.json")]
        ),

        // Sends the pushes that changes enqueue, and acts on APNs' answers.
        .target(
            name: "PasslinePush",
            dependencies: [
                "ApplePass", "PasslineHTTPClient", "PasslineJSON", "PasslineService", "PasslineSQL", "PasslineStore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Keeps Google Wallet objects in step with cards, over the REST API.
        .target(
            name: "PasslineGoogle",
            dependencies: [
                "ApplePass", "GoogleWallet", "PasslineCrypto", "PasslineHTTPClient", "PasslineJSON", "PasslineService", "PasslineSQL", "PasslineStore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Opens the store PASSLINE_DATABASE_URL names, with the right driver.
        .target(name: "PasslineDatabase", dependencies: ["PasslineSQL", "PasslineSQLite", "PasslinePostgres"]),

        // Pure Swift.
        .target(name: "PasslineJSON"),
        .target(name: "ApplePass", dependencies: ["PasslineJSON", "PasslineCrypto", "PasslinePNG", "PasslineZip"]),
        // Google Wallet's loyalty classes and objects, save-link JWTs and the token grant.
        .target(name: "GoogleWallet", dependencies: ["PasslineJSON", "PasslineCrypto"]),

        // The command line: a library so tests can drive it, and a one-line executable.
        .target(
            name: "PasslineCLI",
            dependencies: [
                "ApplePass", "PasslineCrypto", "PasslineDatabase", "PasslineStore", "PasslineQR", "PasslineService", "PasslineServer",
                "PasslinePush", "PasslineHTTPClient", "PasslineAPNsSim", "PasslineSQLite", "PasslineGoogle", "PasslineGoogleSim", "GoogleWallet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "passline",
            dependencies: ["PasslineCLI", "CMalloc", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // Fixtures shared by the tests (a cached development identity, temporary folders, subprocesses).
        .target(name: "PasslineTestSupport", dependencies: ["ApplePass", "PasslineCrypto", "PasslineSQL", "PasslineSQLite", "PasslinePostgres"]),

        // A second process for the crash tests: it claims jobs and waits to be killed.
        .executableTarget(name: "PasslineTestClaimer", dependencies: ["PasslineDatabase", "PasslineStore"]),

        .testTarget(name: "PasslineCryptoTests", dependencies: ["PasslineCrypto", "PasslineTestSupport"]),
        .testTarget(name: "PasslineZipTests", dependencies: ["PasslineZip", "PasslineTestSupport"]),
        .testTarget(name: "PasslineJSONTests", dependencies: ["PasslineJSON", "PasslineTestSupport"]),
        .testTarget(name: "GoogleWalletTests", dependencies: ["GoogleWallet", "PasslineCrypto", "PasslineJSON", "PasslineTestSupport"]),
        .testTarget(name: "PasslineQRTests", dependencies: ["PasslineQR", "PasslinePNG", "PasslineTestSupport"]),
        .testTarget(name: "ApplePassTests", dependencies: ["ApplePass", "PasslineCrypto", "PasslineZip", "PasslineJSON", "PasslineTestSupport"]),
        .testTarget(name: "PasslineStoreTests", dependencies: ["PasslineStore", "PasslineService", "PasslineSQL", "PasslineDatabase", "PasslineTestSupport"]),
        .testTarget(name: "PasslineSQLTests", dependencies: ["PasslineSQL", "PasslineSQLite", "PasslinePostgres", "PasslineTestSupport"]),
        .testTarget(name: "PasslineServiceTests", dependencies: ["PasslineService", "PasslineStore", "PasslineSQL", "PasslineCrypto", "ApplePass", "PasslineTestSupport"]),
        .testTarget(
            name: "PasslineServerTests",
            dependencies: [
                "PasslineServer", "PasslineService", "PasslineStore", "PasslineSQL", "PasslineSQLite", "PasslineCrypto", "PasslineTestSupport", "ApplePass", "PasslineZip",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "PasslinePushTests",
            dependencies: [
                "PasslinePush", "PasslineHTTPClient", "PasslineAPNsSim", "PasslineSQLite", "PasslineGoogle", "PasslineGoogleSim", "GoogleWallet", "PasslineServer", "PasslineService", "PasslineStore", "PasslineSQL",
                "PasslineCrypto", "PasslineTestSupport", "ApplePass", "PasslineZip",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "PasslineGoogleTests",
            dependencies: [
                "PasslineGoogle", "PasslineGoogleSim", "GoogleWallet", "PasslineAPNsSim", "PasslineHTTPClient", "PasslineServer", "PasslineService",
                "PasslineStore", "PasslineSQL", "PasslineCrypto", "PasslineJSON", "PasslineTestSupport", "ApplePass", "PasslineZip",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(name: "PasslineHTTPClientTests", dependencies: ["PasslineHTTPClient", "PasslineAPNsSim", "PasslineTestSupport"]),
        .testTarget(name: "PasslineCLITests", dependencies: ["ApplePass", "PasslineCrypto", "PasslineZip", "PasslineDatabase", "PasslineTestSupport", "PasslineAPNsSim", "PasslineService", "PasslineStore", "PasslineSQL", "PasslineGoogleSim", "GoogleWallet", "PasslineJSON", "PasslinePush"]),
    ]
)
