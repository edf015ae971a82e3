import Foundation
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import Testing

@Suite("Retention: what grows with time is purged, and the figures the API reports stay")
struct RetentionTests {
    @Test("expired idempotency answers, old delivery rows and old campaigns' card lists go; counts and fetched figures stay", arguments: TestDatabase.available)
    func purge(kind: TestDatabase) async throws {
        let database = try await seeded(kind, cards: 2)
        let day: Int64 = 86_400_000
        let now: Int64 = 100 * day
        try await database.transaction { connection in
            for (key, at) in [("live:old", now - day - 1), ("live:fresh", now - 1_000)] {
                try Idempotency.store(tenant: "t1", key: key, requestHash: [1], status: 201, body: [2], now: at, on: connection)
            }
            let delivery = Pushes.Delivery(tenant: "t1", pushToken: "token-device-1", passType: "pass.test", outcome: .delivered, apnsID: nil, reason: nil, attempt: 1,
                                           campaign: "cmp_old")
            try Pushes.record([delivery, delivery], now: now - 31 * day, on: connection)
            try Pushes.record([delivery], now: now - day, on: connection)
            try connection.execute("""
                INSERT INTO campaigns (id, tenant_id, template_id, mode, kind, change, total, done, failed, state, created_at, finished_at)
                VALUES ('cmp_old', 't1', 'tpl', 'live', 'reissue', '{}', 2, 2, 0, 'finished', ?, ?)
                """, [.int(now - 32 * day), .int(now - 31 * day)])
            for serial in ["S0", "S1"] {
                try connection.execute("INSERT INTO campaign_cards (campaign_id, tenant_id, serial_number, state, version) VALUES ('cmp_old', 't1', ?, 'done', 1)", [.text(serial)])
            }
            try connection.execute("UPDATE cards SET fetched_version = 1 WHERE serial_number = 'S0'", [])
        }
        let before = try await database.withConnection { connection in
            (try Pushes.counts(tenant: nil, on: connection), try Campaigns.delivery(campaign: "cmp_old", on: connection))
        }
        #expect(before.1.fetched == 1 && before.0["delivered"] == 3)

        var retention = JobRetention()
        retention.chunk = 1   // several rounds of each, as a large backlog would take
        let removed = try await retention.purge(JobQueue(database: database), now: now)
        #expect(removed == 1 + 2 + 2, "one answer, two delivery rows, two campaign cards")

        let after = try await database.withConnection { connection in
            (fresh: try Idempotency.find(tenant: "t1", key: "live:fresh", now: now, on: connection) != nil,
             answers: try connection.first("SELECT COUNT(*) AS n FROM idempotency_records", [])!.int("n"),
             deliveries: try connection.first("SELECT COUNT(*) AS n FROM push_deliveries", [])!.int("n"),
             campaignCards: try connection.first("SELECT COUNT(*) AS n FROM campaign_cards", [])!.int("n"),
             counts: try Pushes.counts(tenant: nil, on: connection),
             fetched: try Campaigns.delivery(campaign: "cmp_old", on: connection).fetched)
        }
        #expect(after.fresh && after.answers == 1 && after.deliveries == 1 && after.campaignCards == 0)
        #expect(after.counts == before.0, "the outcome counts stay")
        #expect(after.fetched == 1, "the fetched figure stays")
        await database.close()
    }

    @Test("an expired answer is never replayed, and its key is free again")
    func expiredKey() async throws {
        let database = try await seeded(.sqlite)
        let day: Int64 = 86_400_000
        try await database.transaction { connection in
            try Idempotency.store(tenant: "t1", key: "live:k", requestHash: [1], status: 201, body: [2], now: 0, on: connection)
        }
        let (expired, renewed) = try await database.transaction { connection in
            let expired = try Idempotency.find(tenant: "t1", key: "live:k", now: day + 1, on: connection)
            // Stored again after its lifetime: the old answer makes way.
            try Idempotency.store(tenant: "t1", key: "live:k", requestHash: [3], status: 201, body: [4], now: day + 1, on: connection)
            return (expired, try Idempotency.find(tenant: "t1", key: "live:k", now: day + 2, on: connection))
        }
        #expect(expired == nil && renewed?.requestHash == [3])
        await database.close()
    }
}
