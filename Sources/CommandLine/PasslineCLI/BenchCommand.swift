import ApplePass
import ArgumentParser
import Foundation
import PasslineDatabase
import PasslineSQL
import PasslineStore
import PasslineQR

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, each measured next to its ceiling in the same run.",
        subcommands: [BuildBench.self, StoreBench.self, QRBench.self, PushBench.self, PushLatencyBench.self, ExpiryBench.self, WebhookBench.self, DeskBench.self]
    )
}

struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Job queue throughput and the device poll on 100,000 cards and 1,000,000 registrations, per driver.",
        discussion: "SQLite runs in a temporary file. PostgreSQL runs in a throwaway schema of PASSLINE_DATABASE_URL (or --postgres), dropped afterwards; without one it is skipped. With --json each driver's result is one JSON line."
    )

    @Option(help: "Jobs to push through the queue.")
    var jobs: Int = 20_000

    @Option(help: "Cards in the table.")
    var cards: Int = 100_000

    @Option(help: "Devices; each registers --per-device cards.")
    var devices: Int = 10_000

    @Option(name: .customLong("per-device"), help: "Registrations per device.")
    var perDevice: Int = 100

    @Option(help: "PostgreSQL to use (a libpq connection string or URL); default PASSLINE_DATABASE_URL when it names PostgreSQL.")
    var postgres: String?

    @Flag(help: "Print each driver's result as a JSON line.")
    var json = false

    func validate() throws {
        guard jobs > 0, cards > 0, devices > 0, perDevice > 0, perDevice <= cards else {
            throw ValidationError("--jobs, --cards, --devices and --per-device must be positive, and --per-device at most --cards.")
        }
    }

    func run() async throws {
        let targets = try await BenchStores.open(postgres: postgres)
        for (name, database, cleanup) in targets {
            let benchmark = StoreBenchmark(database: database, driver: name, jobs: jobs, cards: cards, registrationsPerDevice: perDevice, devices: devices)
            let result = try await benchmark.run { Console.error($0) }
            await database.close()
            await cleanup()
            print("\(name): \(result.jobs) jobs enqueued, claimed and completed at \(Int(result.jobsPerSecond))/s")
            print("\(name): serials updated since tag, one device of \(devices), \(result.cards) cards, \(result.registrations) registrations: p50 \(String(format: "%.3f", result.pollP50Milliseconds)) ms, p99 \(String(format: "%.3f", result.pollP99Milliseconds)) ms over \(result.pollQueries) queries")
            print("\(name): plan:\n  " + result.plan.replacingOccurrences(of: "\n", with: "\n  "))
            if json {
                try Console.printJSONLine(result)
            }
        }
    }
}

struct BuildBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build N distinct signed passes and compare with OpenSSL's RSA-2048 signing rate on the same key and cores.",
        discussion: "With --json the last line is {\"passes\", \"seconds\", \"passesPerSecond\", \"signaturesPerSecond\", \"ratio\", …}."
    )

    @Option(help: "How many passes to build.")
    var count: Int = 2000

    @Option(help: "Threads (cores) to build on; signatures are measured on as many.")
    var jobs: Int = 1

    @Option(help: "Template folder (default: the shipped PassTemplates/loyalty.pass).")
    var template: String?

    @Option(help: "Signing identity folder; by default a throwaway development identity made in memory.")
    var identity: String?

    @Flag(help: "Print the result as JSON on the last line.")
    var json = false

    @Flag(help: "Report resident memory as the run goes, to show it does not grow.")
    var memory = false

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive, found \(count).") }
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be 1 to 256, found \(jobs).") }
    }

    func run() throws {
        let loaded = try PassTemplate.load(folder: template.map(URL.init(commandLinePath:)) ?? ShippedTemplates.folder("loyalty"))
        let signing: PassSigningIdentity
        if let identity {
            signing = try PassSigningIdentity.load(directory: URL(commandLinePath: identity))
        } else {
            signing = try DevelopmentIdentity.generate(passTypeIdentifier: "pass.dev.passline.bench", teamIdentifier: "BENCH00001").signingIdentity()
        }
        var lastReported = 0
        let benchmark = BuildBenchmark(template: loaded, builder: PassBuilder(identity: signing), count: count, jobs: jobs)
        let result = try benchmark.run { built, rss in
            if memory || built - lastReported >= count / 10 || built == count {
                Console.error("built \(built)/\(count)" + (memory ? String(format: ", resident %.1f MiB", rss) : ""))
                lastReported = built
            }
        }
        print(String(format: "%d passes (%@ template, %d job%@) in %.2f s: %.0f passes/s", result.passes, loaded.name, jobs, jobs == 1 ? "" : "s", result.seconds, result.passesPerSecond))
        print(String(format: "OpenSSL RSA-%d signatures, same key, same cores, same run: %.0f/s", signing.signerKey.bits, result.signaturesPerSecond))
        print(String(format: "ratio passes/signatures: %.3f", result.ratio))
        print(String(format: "resident memory: %.1f MiB after warm-up, %.1f MiB at the end", result.rssStartMiB, result.rssEndMiB))
        if json {
            try Console.printJSONLine(result)
        }
    }
}

struct QRBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr",
        abstract: "QR codes rendered per second, PNG and SVG, for a member id and a long URL.",
        discussion: "With --json each case's result is one JSON line {\"text\", \"format\", \"rendersPerSecond\", \"bytes\"}."
    )

    @Option(help: "Seconds to spend on each case.")
    var seconds: Double = 2

    @Flag(help: "Print each case as a JSON line.")
    var json = false

    struct Result: Encodable { let text: String; let format: String; let rendersPerSecond: Double; let bytes: Int }

    func run() throws {
        let cases = [("member id", "M-100200"), ("long URL", "https://passline.example/c/" + String(repeating: "Zx8fQ2", count: 20) + "?utm_source=front-desk&utm_medium=qr")]
        for (name, text) in cases {
            for format in ["png", "svg"] {
                var count = 0, bytes = 0
                let start = DispatchTime.now().uptimeNanoseconds
                let deadline = start + UInt64(seconds * 1e9)
                repeat {
                    let code = try QRCode(text, level: .medium)
                    bytes = format == "png" ? try code.png(scale: 8).count : code.svg().utf8.count
                    count += 1
                } while DispatchTime.now().uptimeNanoseconds < deadline
                let rate = Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                print("\(name) (\(text.utf8.count) bytes) as \(format): \(Int(rate)) renders/s (\(bytes) bytes each)")
                if json {
                    try Console.printJSONLine(Result(text: name, format: format, rendersPerSecond: rate, bytes: bytes))
                }
            }
        }
    }
}

/// The stores a benchmark measures: SQLite in a temporary file, and PostgreSQL in a throwaway
/// schema of the given connection (or PASSLINE_DATABASE_URL's) when there is one. Each comes
/// with what removes it afterwards.
enum BenchStores {
    static func open(postgres: String?) async throws -> [(String, any SQLDatabase, (@Sendable () async -> Void))] {
        var targets: [(String, any SQLDatabase, (@Sendable () async -> Void))] = []
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("passline-bench-\(UUID().uuidString)")
        // The bench never touches the configured store: SQLite gets a file of its own.
        let sqlite = try await DatabaseURL.sqlite(path: folder.appendingPathComponent("bench.sqlite").path).open()
        targets.append(("sqlite", sqlite, { try? FileManager.default.removeItem(at: folder) }))

        let conninfo = try postgres ?? {
            if case .postgres(let conninfo) = try DatabaseURL.fromEnvironment() { return conninfo }
            return nil
        }()
        if let conninfo {
            let schema = "bench_\(UInt32.random(in: 0...UInt32.max))"
            let admin = try await DatabaseURL.postgres(conninfo: conninfo).open(maxConnections: 1)
            try await admin.withConnection { try $0.executeScript("CREATE SCHEMA \(schema)") }
            let separator = conninfo.contains("://") ? (conninfo.contains("?") ? "&" : "?") : " "
            let scoped = conninfo.contains("://") ? conninfo + separator + "options=-csearch_path%3D\(schema)" : conninfo + " options='-csearch_path=\(schema)'"
            let database = try await DatabaseURL.postgres(conninfo: scoped).open(maxConnections: 8)
            targets.append(("postgres", database, {
                try? await admin.withConnection { try $0.executeScript("DROP SCHEMA \(schema) CASCADE") }
                await admin.close()
            }))
        } else {
            Console.error("note: no PostgreSQL given (PASSLINE_DATABASE_URL or --postgres); measuring SQLite only")
        }

        return targets
    }
}

/// The tenant "bench", its template "tpl" and `cards` live cards `S0`… each holding `points`,
/// made by the store in two statements, for the benchmarks that need many cards.
enum BenchCards {
    static func create(cards: Int, points: Int64, on connection: any SQLConnection) throws {
        try TenantRows.create(id: "bench", name: "Bench", now: 0, on: connection)
        try TemplateRows.create(id: "tpl", tenant: "bench", name: "loyalty", passJSON: Array("{}".utf8), now: 0, on: connection)
        try connection.execute("""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO cards (tenant_id, serial_number, template_id, mode, member_id, member_name, authentication_token,
                               public_token, fields, points, version, update_tag, created_at, updated_at)
            SELECT 'bench', 'S' || i, 'tpl', 'live', 'M' || i, 'Member', 'token-0123456789abcdef', 'public-' || i, '{}', ?, 1, i + 1, 0, 0 FROM n
            """, [.int(Int64(cards - 1)), .int(points)])
        try connection.execute("UPDATE update_tags SET last_tag = ? WHERE tenant_id = 'bench'", [.int(Int64(cards))])
    }
}
