import ArgumentParser
import Foundation
import Logging
import LoyaltyRules
import PasslineJSON
import PasslineService
import PasslineSQL
import PasslineStore

struct ExpiryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expiry",
        abstract: "A day's expiry reminders and expiries over many point lots, next to the store's bare commit rate in the same run.",
        discussion: "Loads --cards cards with --lots-per-card lots each, their expiries spread over 100 days, then times the reminders of one day and the expiries of one day, each as one burst (everything due at once, as at the start of a busy minute). SQLite in a temporary file; PostgreSQL in a throwaway schema of PASSLINE_DATABASE_URL (or --postgres) when given."
    )

    @Option(help: "Cards.")
    var cards: Int = 100_000

    @Option(name: .customLong("lots-per-card"), help: "Point lots per card.")
    var lotsPerCard: Int = 10

    @Option(help: "PostgreSQL to use (a libpq connection string or URL); default PASSLINE_DATABASE_URL when it names PostgreSQL.")
    var postgres: String?

    @Flag(help: "Print each driver's result as a JSON line.")
    var json = false

    func validate() throws {
        guard (1...10_000_000).contains(cards), (1...100).contains(lotsPerCard) else {
            throw ValidationError("--cards must be 1 to 10,000,000 and --lots-per-card 1 to 100.")
        }
    }

    func run() async throws {
        for (name, database, cleanup) in try await BenchStores.open(postgres: postgres) {
            let result = try await ExpiryBenchmark(database: database, driver: name, cards: cards, lotsPerCard: lotsPerCard).run { Console.error($0) }
            await database.close()
            await cleanup()
            print("\(name): \(result.lots) lots on \(result.cards) cards; bare commits (one row each): \(Int(result.commitsPerSecond))/s")
            print("\(name): a day's reminders: \(result.reminded) cards in \(String(format: "%.2f", result.reminderSeconds)) s, \(Int(result.remindersPerSecond))/s (\(String(format: "%.2f", result.remindersPerSecond / result.commitsPerSecond)) of bare commits)")
            print("\(name): a day's expiries: \(result.expired) cards in \(String(format: "%.2f", result.expirySeconds)) s, \(Int(result.expiriesPerSecond))/s (\(String(format: "%.2f", result.expiriesPerSecond / result.commitsPerSecond)) of bare commits)")
            if json { try Console.printJSONLine(result) }
        }
    }
}

/// One driver's run of `bench expiry`.
struct ExpiryBenchmark: Sendable {
    struct Result: Encodable, Sendable {
        let driver: String
        let cards: Int
        let lots: Int
        let commitsPerSecond: Double
        let reminded: Int
        let reminderSeconds: Double
        let remindersPerSecond: Double
        let expired: Int
        let expirySeconds: Double
        let expiriesPerSecond: Double
    }

    let database: any SQLDatabase
    let driver: String
    let cards: Int
    let lotsPerCard: Int

    func run(progress: @Sendable (String) -> Void) async throws -> Result {
        try await Migrator.migrate(database)
        let day = Timestamp.millisecondsPerDay
        let start = Timestamp.parse("2027-01-01T12:00:00Z")!
        let program = try Program.parse(try JSONParser.parse(#"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}],"expiry":{"afterDays":365},"reminders":{"daysBefore":[28,7]},"timeZone":"UTC","quietHours":{"start":0,"end":1}}"#).objectValue!)
        let total = cards * lotsPerCard
        progress("\(driver): loading \(cards) cards and \(total) lots, expiring over 100 days")
        let (cards, lotsPerCard) = (self.cards, self.lotsPerCard)
        try await database.transaction { connection in
            try BenchCards.create(cards: cards, points: Int64(lotsPerCard * 10), on: connection)
            _ = try ProgramVersions.add(tenant: "bench", mode: .live, rules: JSONWriter.string(.object(program.json)), effectiveAt: 0, actor: nil, now: 0, on: connection)
            // Lot i is card i % cards's; expiries rise with i, so a day's lots are on distinct cards.
            try connection.execute("""
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO point_lots (tenant_id, serial_number, points, remaining, earned_at, expires_at, reminder_days, reminder_at)
                SELECT 'bench', 'S' || (i % ?), 10, 10, 0,
                       CAST(? AS BIGINT) + CAST(i AS BIGINT) * CAST(? AS BIGINT) / CAST(? AS BIGINT), 28,
                       CAST(? AS BIGINT) + CAST(i AS BIGINT) * CAST(? AS BIGINT) / CAST(? AS BIGINT) - CAST(? AS BIGINT) FROM n
                """, [.int(Int64(total - 1)), .int(Int64(cards)), .int(start + 28 * day), .int(100 * day), .int(Int64(total)),
                      .int(start + 28 * day), .int(100 * day), .int(Int64(total)), .int(28 * day)])
        }
        try await database.withConnection { try $0.executeScript(database.dialect == .postgres ? "ANALYZE cards; ANALYZE point_lots" : "ANALYZE") }

        progress("\(driver): the bare commit rate")
        let commits = 2_000
        let commitStart = ContinuousClock.now
        for index in 0..<commits {
            try await database.transaction { connection in
                _ = try connection.execute("UPDATE cards SET updated_at = ? WHERE tenant_id = 'bench' AND serial_number = ?",
                                           [.int(Int64(index)), .text("S\(index % cards)")])
            }
        }
        let commitsPerSecond = Double(commits) / Self.seconds(since: commitStart)

        let jobs = JobQueue(database: database, worker: "bench")
        var logger = Logger(label: "passline.bench")
        logger.logLevel = .warning
        let scheduler = PointsScheduler(database: database, programs: Programs(database: database), jobs: jobs, logger: logger)
        progress("\(driver): one day's reminders, all due at once")
        let remindStart = ContinuousClock.now
        let reminded = try await scheduler.remindDue(now: start + day)
        let reminderSeconds = Self.seconds(since: remindStart)
        progress("\(driver): one day's expiries, all due at once")
        let expireStart = ContinuousClock.now
        let expired = try await scheduler.expireDue(now: start + 29 * day)
        let expirySeconds = Self.seconds(since: expireStart)
        return Result(driver: driver, cards: cards, lots: total, commitsPerSecond: commitsPerSecond, reminded: reminded, reminderSeconds: reminderSeconds,
                      remindersPerSecond: Double(reminded) / reminderSeconds, expired: expired, expirySeconds: expirySeconds,
                      expiriesPerSecond: Double(expired) / expirySeconds)
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
