import PasslineSQL
import PasslineStore
import PasslineTestSupport
import Testing

@Suite("Push outcome counts")
struct PushOutcomeTests {
    func delivery(_ tenant: String, _ token: String, _ outcome: String, campaign: String? = nil) -> Pushes.Delivery {
        Pushes.Delivery(tenant: tenant, pushToken: token, passType: "pass.test", outcome: PushOutcome(rawValue: outcome)!, apnsID: nil, reason: nil, attempt: 1, campaign: campaign)
    }

    @Test("outcomes are counted per tenant, per campaign and in all, with the rows and only when they commit", arguments: TestDatabase.available)
    func counted(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        try await database.transaction { try TenantRows.create(id: "t2", name: "Other", now: 1, on: $0) }
        try await database.transaction { connection in
            try Pushes.record([self.delivery("t1", "a", "delivered"), self.delivery("t1", "b", "delivered"), self.delivery("t1", "c", "unregistered"),
                               self.delivery("t1", "d", "delivered", campaign: "c-1"), self.delivery("t2", "e", "failed", campaign: "c-2")],
                              now: 5, on: connection)
        }
        try await database.transaction { connection in
            try Pushes.record([self.delivery("t1", "f", "delivered", campaign: "c-1"), self.delivery("t1", "a", "delivered")], now: 6, on: connection)
        }
        // A settle that fails after writing its rows takes its counts with it.
        await #expect(throws: SQLError.self) {
            try await database.transaction { connection in
                try Pushes.record([self.delivery("t1", "g", "delivered")], now: 7, on: connection)
                try connection.execute("INSERT INTO no_such_table VALUES (1)", [])
            }
        }
        let counts = try await database.withConnection { connection in
            [try Pushes.counts(tenant: "t1", on: connection), try Pushes.counts(tenant: "t2", on: connection), try Pushes.counts(tenant: nil, on: connection),
             try Pushes.counts(campaign: "c-1", on: connection), try Pushes.counts(campaign: "c-2", on: connection),
             try Pushes.counts(campaign: "nobody", on: connection)]
        }
        #expect(counts == [["delivered": 5, "unregistered": 1], ["failed": 1], ["delivered": 5, "unregistered": 1, "failed": 1],
                           ["delivered": 2], ["failed": 1], [:]])
        // The counts agree with the rows they stand for.
        let rows = try await database.withConnection { connection in
            try connection.query("SELECT outcome, COUNT(*) AS n FROM push_deliveries GROUP BY outcome", []).map { (try $0.string("outcome"), Int(try $0.int("n"))) }
        }
        #expect(Dictionary(uniqueKeysWithValues: rows) == ["delivered": 5, "unregistered": 1, "failed": 1])
        // A tenant's removal takes its counts along.
        try await database.transaction { try $0.execute("DELETE FROM tenants WHERE id = 't2'", []) }
        #expect(try await database.withConnection { try Pushes.counts(tenant: nil, on: $0) } == ["delivered": 5, "unregistered": 1])
        await database.close()
    }
}
