import ApplePass
import ArgumentParser
import Foundation
import PasslineAPNsSim
import PasslineCrypto
import PasslineDatabase
import PasslineHTTPClient
import PasslinePush
import PasslineService
import PasslineSQL
import PasslineSQLite
import PasslineStore

struct PushBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Fans one change out to N registered devices through the push worker and the APNs stand-in, next to h2load against the same stand-in.",
        discussion: "The store is SQLite in a temporary folder. h2load (Debian's nghttp2-client) sends the same number of pushes over 2 connections with 1,000 streams each; it cannot present a client certificate, so the stand-in accepts anonymous connections for it. h2load runs right before the fan-out and right after it, and the ceiling is the mean of the two: the machine's speed drifts within seconds. It also sends the same number of pushes through the HTTP client alone (no job queue or store). With --json the last line is {devices, seconds, pushesPerSecond, clientAlonePerSecond, h2loadPerSecond, h2loadBeforePerSecond, h2loadAfterPerSecond, ratio}."
    )

    @Option(name: .customLong("database-url"), help: "Run on this store (an empty PostgreSQL schema, say) instead of a temporary SQLite file.")
    var databaseURL: String?

    @Option(help: "Registered devices, each with its own push token.")
    var devices = 100_000

    @Option(help: "libcurl loops (threads) the client may use for the tenant's certificate; the client's default is one a core, at most 4.")
    var loops: Int?

    @Flag(help: "Print the result as a JSON line.")
    var json = false

    struct Result: Encodable {
        let devices: Int
        let seconds: Double
        let pushesPerSecond: Double
        let clientAlonePerSecond: Double
        /// The mean of the runs before and after the fan-out.
        let h2loadPerSecond: Double?
        let h2loadBeforePerSecond: Double?
        let h2loadAfterPerSecond: Double?
        let ratio: Double?
    }

    func run() async throws {
        guard devices > 0 else { throw ValidationError("--devices must be at least 1.") }
        let store = try await PushBenchStore.make(label: "push", databaseURL: databaseURL)
        defer { store.remove() }
        let (folder, passType, identity, database, tenants, tenant) = (store.folder, store.passType, store.identity, store.database, store.tenants, store.tenant)
        let count = devices
        Console.error("registering \(count) devices…")
        try await database.transaction { connection in
            try TemplateRows.create(id: "tpl", tenant: tenant, name: "bench", passJSON: Array("{}".utf8), now: 1, on: connection)
            try CardRows.insert(.init(serialNumber: "S1", templateID: "tpl", memberID: "M1", memberName: "Bench", authenticationToken: String(repeating: "a", count: 32),
                                         publicToken: "bench", points: 0), tenant: tenant, now: 1, on: connection)
            for n in 0..<count {
                _ = try Devices.register(tenant: tenant, device: "device-\(n)", pushToken: Self.token(n), passType: passType, serial: "S1", now: 1, on: connection)
            }
        }

        if database.dialect == .postgres {
            // Real phones register one by one, and autovacuum has analysed the tables long before
            // 100,000 of them have. Straight after this one transaction the planner would still
            // see empty tables, and count a card's devices with a nested loop: 541 ms instead of 94.
            try await database.withConnection { try $0.executeScript("ANALYZE registrations; ANALYZE devices") }
        }
        let credentials = try StandInCredentials.generate()
        let caFile = folder.appendingPathComponent("ca.pem")
        try Data(credentials.authorityPEM).write(to: caFile)
        let sim = try await APNsSimulator.start(.init(certificateChainPEM: credentials.certificateChainPEM, keyPEM: credentials.keyPEM,
                                                      clientCAPEM: identity.root.pemBytes, allowAnonymous: true, recordPushes: false))
        var clientConfiguration = HTTPClient.Configuration(caFile: caFile.path)
        if let loops {
            guard loops > 0 else { throw ValidationError("--loops must be at least 1.") }
            clientConfiguration.loopsPerIdentity = loops
        }
        let client = HTTPClient(configuration: clientConfiguration)
        let jobs = JobQueue(database: database)
        let worker = PushWorker(jobs: jobs, tenants: tenants, client: client, configuration: .init(apnsURL: "https://127.0.0.1:\(sim.port)"), logger: CommandLogger.shared)

        let h2loadBefore = try Self.h2load(port: sim.port, requests: count, passType: passType, folder: folder)
        // h2load's pushes reach the stand-in too: only what arrives from here on is the fan-out's.
        let deliveredBefore = sim.stats().delivered
        Console.error("one change, \(count) pushes…")
        let before = ThreadTimes.now()
        let start = DispatchTime.now().uptimeNanoseconds
        try await database.transaction { connection in
            _ = try Ledger.apply(tenant: tenant, mode: .live, .init(serial: "S1", points: 10, reason: "campaign", amount: nil, actor: nil,
                                                                   idempotencyKey: nil, requestHash: []), now: WallClock.milliseconds(), on: connection)
        }
        let queued = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        try await worker.drain()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let delivered = sim.stats().delivered - deliveredBefore
        guard delivered >= count else { throw ValidationError("only \(delivered) of \(count) pushes arrived; see the job table's errors.") }
        let rate = Double(count) / seconds
        let piped = ThreadTimes.now()
        let h2loadAfter = try Self.h2load(port: sim.port, requests: count, passType: passType, folder: folder)
        Console.error(String(format: "passline: %d pushes in %.2f s (%.2f s of it committing the change and its jobs), %.0f pushes/s", count, seconds, queued, rate))
        Console.error("CPU a push: " + Self.perPush(piped.since(before, group: Self.component), count: count)
                      + (databaseURL == nil ? "" : " (this process's threads; PostgreSQL's own processes not counted)"))

        // The same pushes through the HTTP client alone (no job queue, no store): what libcurl
        // and its wrapper cost, between the pipeline and the wire's ceiling.
        let aloneFrom = ThreadTimes.now()
        let clientRate = try await Self.clientAlone(client: client, port: sim.port, requests: count, passType: passType, identity: identity)
        Console.error(String(format: "client alone: %.0f requests/s (libcurl and its wrapper, no job queue)", clientRate))
        Console.error("CPU a request: " + Self.perPush(ThreadTimes.now().since(aloneFrom, group: Self.component), count: count)
                      + " on \(client.statistics.loopsStarted) libcurl threads"
                      + (client.statistics.readmitted > 0 ? ", \(client.statistics.readmitted) requests handed to libcurl again after waiting in its queue" : ""))
        let refused = sim.stats().connectionsRefusedAsAbuse
        if refused > 0 { Console.error("warning: the stand-in closed \(refused) connections as abuse; their streams were sent again") }
        client.shutdown()

        await sim.stop()
        let h2load = h2loadBefore.flatMap { before in h2loadAfter.map { (before + $0) / 2 } }
        if let h2load, let h2loadBefore, let h2loadAfter {
            Console.error(String(format: "h2load:   %.0f requests/s against the same stand-in (%.0f before the fan-out, %.0f after)", h2load, h2loadBefore, h2loadAfter))
        }
        let result = Result(devices: count, seconds: seconds, pushesPerSecond: rate, clientAlonePerSecond: clientRate, h2loadPerSecond: h2load,
                            h2loadBeforePerSecond: h2loadBefore, h2loadAfterPerSecond: h2loadAfter, ratio: h2load.map { rate / $0 })
        if json { try Console.printJSONLine(result) } else if let ratio = result.ratio { print(String(format: "ratio %.2f", ratio)) }
    }

    /// Requests per second of `requests` pushes handed to the client at once, as a push batch is.
    static func clientAlone(client: HTTPClient, port: Int, requests: Int, passType: String, identity: DevelopmentIdentity) async throws -> Double {
        let clientIdentity = try APNsRequest.clientIdentity(try identity.signingIdentity())
        let expiration = String(Int(Date().timeIntervalSince1970) + 86_400)
        let all = (0..<requests).map { n in
            APNsRequest.make(apnsURL: "https://127.0.0.1:\(port)", token: token(n), passType: passType, expiration: expiration,
                             timeoutMilliseconds: 30_000, identity: clientIdentity)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let answers = await client.send(all: all)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let failures = answers.compactMap { answer -> String? in
            switch answer {
            case .success(let response): response.status == 200 ? nil : "status \(response.status): \(String(decoding: response.body, as: UTF8.self))"
            case .failure(let error): error.message
            }
        }
        guard failures.isEmpty else { throw ValidationError("\(failures.count) of \(requests) requests through the client alone failed, first: \(failures[0])") }
        return Double(requests) / seconds
    }

    /// The benchmark's threads by what they run: libcurl's loops, the stand-in's event loop,
    /// SQLite's connection and its checkpointer, and everything else (the worker's tasks, the job queue's Swift side).
    static func component(_ thread: String) -> String {
        if thread.hasPrefix("passline-curl") { return "libcurl" }
        if thread.hasPrefix("NIO-ELT") { return "stand-in" }
        return thread.hasPrefix("passline.sqlite") || thread.hasPrefix("passline.wal") ? "SQLite" : "rest"
    }

    static func perPush(_ seconds: [String: Double], count: Int) -> String {
        ["libcurl", "stand-in", "SQLite", "rest"].map { String(format: "%@ %.0f µs", $0, (seconds[$0] ?? 0) * 1e6 / Double(count)) }.joined(separator: ", ")
    }

    static func token(_ n: Int) -> String { String(repeating: "0", count: 56) + String(format: "%08x", n) }

    /// h2load's requests per second, or nil (with a note) when it is not installed.
    static func h2load(port: Int, requests: Int, passType: String, folder: URL) throws -> Double? {
        let body = folder.appendingPathComponent("body.json")
        try Data("{}".utf8).write(to: body)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["h2load", "-n", String(requests), "-c", "2", "-m", "1000", "-H", "apns-topic: \(passType)",
                             "-d", body.path, "https://127.0.0.1:\(port)/3/device/\(token(1))"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: Console.readToEnd(output.fileHandleForReading), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 127 {
            Console.error("h2load is not installed (apt-get install nghttp2-client); no ceiling measured.")
            return nil
        }
        // "finished in 1.23s, 81234.56 req/s, 1.2MB/s"
        guard process.terminationStatus == 0, let match = text.firstMatch(of: /finished in [0-9.]+m?s, ([0-9.]+) req\/s/), let rate = Double(match.1) else {
            Console.error("h2load failed: \(text.suffix(400))")
            return nil
        }
        if text.contains("succeeded, 0 failed") == false, let status = text.firstMatch(of: /requests: .*/) { Console.error("h2load: \(status.0)") }
        return rate
    }
}

/// What both push benchmarks start from: a SQLite store in a temporary folder with one tenant
/// signing with a fresh development identity.
struct PushBenchStore {
    let folder: URL
    let passType = "pass.bench.passline"
    let identity: DevelopmentIdentity
    let database: any SQLDatabase
    let tenants: Tenants
    let tenant: String

    /// A new tenant in `databaseURL` (best an empty schema: the benchmark leaves its rows), or in
    /// a temporary SQLite file when none is given.
    static func make(label: String, databaseURL: String? = nil) async throws -> PushBenchStore {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("passline-bench-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let identity = try DevelopmentIdentity.generate(passTypeIdentifier: "pass.bench.passline", teamIdentifier: "BENCH00001")
        let database: any SQLDatabase = if let databaseURL {
            try await DatabaseURL(parsing: databaseURL).open()
        } else {
            try SQLiteDatabase(path: folder.appendingPathComponent("bench.sqlite").path)
        }
        try await Migrator.migrate(database)
        let tenants = Tenants(database: database, secrets: try SecretBox(key: SecretBox.generateKey()))
        let tenant = try await tenants.create(name: "Bench", identity: try identity.signingIdentity()).id
        return PushBenchStore(folder: folder, identity: identity, database: database, tenants: tenants, tenant: tenant)
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }

    /// `count` cards of `template` (serials C0…, member ids M0…), each on a device of its own
    /// (push tokens `PushBench.token(n)`): what a campaign fans out to.
    func addCampaignCards(_ count: Int, template: String) async throws {
        let (tenant, passType) = (self.tenant, self.passType)
        // A thousand cards a transaction: each insert stamps the tenant's one update-tag row, and
        // PostgreSQL walks every earlier version of that row made in the same transaction, so
        // 50,000 in one took a quarter of an hour.
        for start in stride(from: 0, to: count, by: 1_000) {
            try await database.transaction { connection in
                for n in start..<min(start + 1_000, count) {
                    try CardRows.insert(.init(serialNumber: "C\(n)", templateID: template, memberID: "M\(n)", memberName: "Member",
                                                 authenticationToken: String(repeating: "a", count: 32), publicToken: "p\(n)", points: 0),
                                           tenant: tenant, now: 1, on: connection)
                    _ = try Devices.register(tenant: tenant, device: "d\(n)", pushToken: PushBench.token(n), passType: passType, serial: "C\(n)", now: 1, on: connection)
                }
            }
        }
    }
}
