import LoyaltyRules
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import Testing

@Suite("Points changes in batches")
struct LedgerBatchTests {
    private func change(_ serial: String, _ points: Int64, key: String? = nil, reason: String = "visit", amount: Int64? = nil) -> Ledger.Change {
        Ledger.Change(serial: serial, points: points, reason: reason, amount: amount, actor: "live", idempotencyKey: key,
                      requestHash: Array("hash of \(serial) \(points)".utf8))
    }

    @Test("a batch applies what each card allows, and leaves the rest untouched", arguments: TestDatabase.available)
    func mixedBatch(kind: TestDatabase) async throws {
        let database = try await seeded(kind, cards: 6)
        let before = try await database.transaction { connection -> Int64 in
            try connection.execute("UPDATE cards SET points = 100 WHERE tenant_id = 't1'", [])
            // The balance stands on a lot, as every balance does.
            try connection.execute("""
                INSERT INTO point_lots (tenant_id, serial_number, points, remaining, earned_at) SELECT tenant_id, serial_number, 100, 100, 1 FROM cards WHERE tenant_id = 't1'
                """, [])
            try connection.execute("UPDATE cards SET voided = 1 WHERE tenant_id = 't1' AND serial_number = 'S3'", [])
            try Idempotency.store(tenant: "t1", key: "taken", requestHash: [1], status: 201, body: Array("earlier".utf8), now: 1, on: connection)
            return try connection.first("SELECT last_tag FROM update_tags WHERE tenant_id = 't1'", [])!.int("last_tag")
        }
        let changes = [
            change("S0", 5, key: "k0", reason: "a \"quoted\", {braced} reason", amount: 1250),
            change("S1", -150),                 // over the balance
            change("S2", -40, key: "k2"),
            change("S3", 10, key: "k3"),        // voided
            change("nobody", 10),               // no such card
            change("S4", 7, key: "taken"),      // key held by another request
            change("S5", 1),
        ]
        let results = try await database.transaction { connection in
            try Ledger.applyBatch(tenant: "t1", mode: .live, changes, now: 50,
                                  answer: { index, outcome in Array("answer \(index) \(outcome.points)".utf8) }, on: connection)
        }
        #expect(results.count == changes.count)
        guard case .applied(let s0, let answer0) = results[0], case .applied(let s2, _) = results[2], case .applied(let s5, _) = results[6] else {
            Issue.record("expected S0, S2 and S5 applied: \(results)")
            return
        }
        #expect(answer0 == Array("answer 0 105".utf8))
        #expect((s0.points, s0.version, s0.entry.balanceAfter, s0.entry.amount, s0.pushes) == (105, 2, 105, 1250, 1))
        #expect((s2.points, s2.entry.points) == (60, -40))
        #expect(s5.points == 101)
        // Each refusal says why, as a change alone would have been answered.
        func refusal(_ result: Ledger.BatchResult) -> DomainError? { if case .refused(let error) = result { error } else { nil } }
        #expect(refusal(results[1])?.code == .conflict && refusal(results[1])?.message.contains("exceeds the balance") == true, "\(results[1])")
        #expect(refusal(results[3])?.code == .conflict && refusal(results[3])?.message.contains("voided") == true, "\(results[3])")
        #expect(refusal(results[4])?.code == .notFound, "\(results[4])")
        #expect(results[5] == .keyTaken)

        try await database.withConnection { connection in
            let points = Dictionary(uniqueKeysWithValues: try connection.query("SELECT serial_number, points, version, update_tag FROM cards WHERE tenant_id = 't1'", [])
                .map { (try $0.string("serial_number"), (try $0.int("points"), try $0.int("version"), try $0.int("update_tag"))) })
            #expect(points["S1"]!.0 == 100 && points["S1"]!.1 == 1)
            #expect(points["S3"]!.0 == 100 && points["S4"]!.0 == 100)
            // Every changed card carries the one new tag; the others keep theirs.
            let tag = try connection.first("SELECT last_tag FROM update_tags WHERE tenant_id = 't1'", [])!.int("last_tag")
            #expect(tag == before + 1)
            #expect(points["S0"]!.2 == tag && points["S2"]!.2 == tag && points["S5"]!.2 == tag)
            #expect(points["S1"]!.2 < tag && points["S4"]!.2 < tag)
            let entries = try connection.query("SELECT serial_number, reason, idempotency_key FROM ledger_entries ORDER BY serial_number", [])
            #expect(try entries.map { try $0.string("serial_number") } == ["S0", "S2", "S5"])
            #expect(try entries[0].string("reason") == "a \"quoted\", {braced} reason")
            #expect(try entries[2].optionalString("idempotency_key") == nil)
            // Answers stored under the applied changes' keys; the unapplied change's key is free again.
            #expect(try Idempotency.find(tenant: "t1", key: "k0", now: 60, on: connection)?.body == Array("answer 0 105".utf8))
            #expect(try Idempotency.find(tenant: "t1", key: "k2", now: 60, on: connection)?.requestHash == Array("hash of S2 -40".utf8))
            #expect(try Idempotency.find(tenant: "t1", key: "k3", now: 60, on: connection) == nil)
            #expect(try Idempotency.find(tenant: "t1", key: "taken", now: 60, on: connection)?.body == Array("earlier".utf8))
            // One push job per registered device of the changed cards, coalesced per token.
            #expect(try connection.first("SELECT count(*) AS n FROM jobs WHERE kind = 'apns.push'", [])!.int("n") == 1)
        }
        await database.close()
    }

    @Test("a batch that applies nothing takes no tag and leaves no reserved key", arguments: TestDatabase.available)
    func nothingApplied(kind: TestDatabase) async throws {
        let database = try await seeded(kind, cards: 1)
        let results = try await database.transaction { connection in
            try Ledger.applyBatch(tenant: "t1", mode: .test, [change("S0", 5, key: "k"), change("S0x", 1)], now: 5,
                                  answer: { _, _ in [] }, on: connection)
        }
        // A live card asked for in test mode is not found, as an unknown serial is.
        #expect(results == [.refused(DomainError(.notFound, "No card S0.")), .refused(DomainError(.notFound, "No card S0x."))])
        try await database.withConnection { connection throws in
            #expect(try Idempotency.find(tenant: "t1", key: "k", on: connection) == nil)
            #expect(try connection.first("SELECT count(*) AS n FROM ledger_entries", [])!.int("n") == 0)
            #expect(try connection.first("SELECT points FROM cards WHERE serial_number = 'S0'", [])!.int("points") == 0)
        }
        await database.close()
    }
}
