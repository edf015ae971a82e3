import Foundation
import LoyaltyRules
import PasslineDatabase
import PasslineSQL
import PasslineStore

/// Measures the store on one driver: the job queue's throughput, and the device poll
/// ("serials updated since tag") on a large table, with its query plan.
struct StoreBenchmark: Sendable {
    struct Result: Encodable, Sendable {
        let driver: String
        let jobs: Int
        let jobsPerSecond: Double
        let cards: Int
        let registrations: Int
        let pollQueries: Int
        let pollP50Milliseconds: Double
        let pollP99Milliseconds: Double
        let plan: String
    }

    let database: any SQLDatabase
    let driver: String
    let jobs: Int
    let cards: Int
    let registrationsPerDevice: Int
    let devices: Int

    func run(progress: @Sendable (String) -> Void) async throws -> Result {
        try await Migrator.migrate(database)
        try await database.transaction { connection in
            try TenantRows.create(id: "bench", name: "Bench", now: 0, on: connection)
            try TemplateRows.create(id: "tpl", tenant: "bench", name: "loyalty", passJSON: Array("{}".utf8), now: 0, on: connection)
        }

        // Jobs: enqueue in batches, then claimers take and complete them in batches.
        progress("\(driver): \(jobs) jobs through enqueue → claim → complete")
        let queue = JobQueue(database: database, worker: "bench")
        let start = ContinuousClock.now
        for batch in stride(from: 0, to: jobs, by: 500) {
            try await queue.enqueue((batch..<min(jobs, batch + 500)).map {
                NewJob(kind: "bench", tenant: "bench", payload: #"{"n":\#($0)}"#, coalesceKey: "bench:\($0)")
            })
        }
        let claimers = database.dialect == .postgres ? 4 : 1
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<claimers {
                group.addTask {
                    let worker = JobQueue(database: database, worker: "bench-\(index)")
                    while true {
                        let claimed = try await worker.claim(limit: 100)
                        if claimed.isEmpty { return }
                        try await worker.complete(claimed)
                    }
                }
            }
            try await group.waitForAll()
        }
        let jobSeconds = Double((ContinuousClock.now - start).components.attoseconds) / 1e18 + Double((ContinuousClock.now - start).components.seconds)
        let done = try await queue.counts()["done"] ?? 0
        guard done == jobs else { throw DomainError(.invalid, "Only \(done) of \(jobs) jobs completed.") }

        // Cards and registrations, generated inside the database.
        progress("\(driver): loading \(cards) cards, \(devices) devices, \(devices * registrationsPerDevice) registrations")
        let cards = self.cards, devices = self.devices, perDevice = self.registrationsPerDevice
        try await database.transaction { connection in
            try connection.execute("""
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO cards (tenant_id, serial_number, template_id, mode, member_id, member_name, authentication_token,
                                   public_token, fields, points, version, update_tag, created_at, updated_at)
                SELECT 'bench', 'S' || i, 'tpl', 'live', 'M' || i, 'Member', 'token-0123456789abcdef', 'public-' || i, '{}', 0, 1, i + 1, 0, 0 FROM n
                """, [.int(Int64(cards - 1))])
            try connection.execute("UPDATE update_tags SET last_tag = ? WHERE tenant_id = 'bench'", [.int(Int64(cards))])
            try connection.execute("""
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO devices (tenant_id, device_library_id, push_token, created_at, updated_at)
                SELECT 'bench', 'device-' || i, 'push-' || i, 0, 0 FROM n
                """, [.int(Int64(devices - 1))])
            try connection.execute("""
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO registrations (tenant_id, device_library_id, pass_type_identifier, serial_number, created_at)
                SELECT 'bench', 'device-' || (i / ?), 'pass.bench', 'S' || (i % ?), 0 FROM n
                """, [.int(Int64(devices * perDevice - 1)), .int(Int64(perDevice)), .int(Int64(cards))])
        }
        if database.dialect == .postgres {
            try await database.withConnection { try $0.executeScript("ANALYZE cards; ANALYZE registrations; ANALYZE update_tags") }
        } else {
            try await database.withConnection { try $0.executeScript("ANALYZE") }
        }

        // The device poll, as the web service runs it.
        let explain = database.dialect == .postgres ? "EXPLAIN" : "EXPLAIN QUERY PLAN"
        let plan = try await database.withConnection { connection in
            try connection.query("""
                \(explain) SELECT c.serial_number AS serial_number, (SELECT last_tag FROM update_tags WHERE tenant_id = ?) AS last_tag
                FROM registrations r JOIN cards c ON c.tenant_id = r.tenant_id AND c.serial_number = r.serial_number
                WHERE r.tenant_id = ? AND r.device_library_id = ? AND r.pass_type_identifier = ? AND c.update_tag > ?
                ORDER BY c.serial_number
                """, [.text("bench"), .text("bench"), .text("device-42"), .text("pass.bench"), .int(Int64(cards - 500))])
            .map { row in row.values.compactMap { if case .text(let t) = $0 { t } else { nil } }.last ?? "" }
            .joined(separator: "\n")
        }
        progress("\(driver): timing the device poll")
        let queries = 2000
        var latencies: [Double] = []
        latencies.reserveCapacity(queries)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<queries {
            let device = "device-\(Int.random(in: 0..<devices, using: &generator))"
            let since = Int64.random(in: 0..<Int64(cards), using: &generator)
            let begin = ContinuousClock.now
            _ = try await database.withConnection { try DevicePollQuery.serialsUpdated(tenant: "bench", device: device, passType: "pass.bench", since: since, on: $0) }
            let elapsed = ContinuousClock.now - begin
            latencies.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        }
        latencies.sort()
        return Result(
            driver: driver, jobs: jobs, jobsPerSecond: Double(jobs) / jobSeconds, cards: cards, registrations: devices * perDevice,
            pollQueries: queries, pollP50Milliseconds: latencies[queries / 2], pollP99Milliseconds: latencies[queries * 99 / 100], plan: plan
        )
    }
}
