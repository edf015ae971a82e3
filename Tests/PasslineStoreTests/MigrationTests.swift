import PasslineSQL
import PasslineStore
import PasslineTestSupport
import Testing

@Suite("Migrations")
struct MigrationTests {
    @Test("migrating applies every step once; again, nothing", arguments: TestDatabase.available)
    func idempotent(kind: TestDatabase) async throws {
        let database = try await kind.make()
        #expect(try await Migrator.migrate(database) == Schema.migrations.map(\.version))
        #expect(try await Migrator.migrate(database) == [])
        #expect(try await Migrator.applied(database) == Schema.migrations.map(\.version))
        await database.close()
    }

    @Test("four instances starting at once apply the schema exactly once", arguments: TestDatabase.available)
    func concurrent(kind: TestDatabase) async throws {
        let first = try await kind.make()
        var instances: [any SQLDatabase] = [first]
        for _ in 0..<3 { instances.append(try await TestDatabase.reopen(first)) }
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for instance in instances { group.addTask { try await Migrator.migrate(instance) } }
            var all: [[Int]] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(applied.filter { !$0.isEmpty }.count == 1)
        #expect(applied.flatMap { $0 } == Schema.migrations.map(\.version))
        for instance in instances { await instance.close() }
    }

    @Test("push outcomes recorded before they were counted are counted by the migration that adds the counts", arguments: TestDatabase.available)
    func outcomeCountsBackfilled(kind: TestDatabase) async throws {
        let database = try await kind.make()
        _ = try await Migrator.migrate(database, migrations: Schema.migrations.filter { $0.version < 7 })
        try await database.transaction { connection in
            try TenantRows.create(id: "t1", name: "Lumen Clinic", now: 1, on: connection)
            for (n, (outcome, campaign)) in [("delivered", nil), ("delivered", "c-1"), ("delivered", "c-1"), ("failed", nil)].enumerated() {
                try connection.execute("""
                    INSERT INTO push_deliveries (tenant_id, push_token, pass_type, outcome, attempt, campaign_id, created_at)
                    VALUES ('t1', ?, 'pass.test', ?, 1, ?, 1)
                    """, [.text("token-\(n)"), .text(outcome), campaign.map(SQLValue.text) ?? .null])
            }
        }
        #expect(try await Migrator.migrate(database) == Schema.migrations.map(\.version).filter { $0 >= 7 })
        let (tenant, campaign) = try await database.withConnection { connection in
            (try Pushes.counts(tenant: "t1", on: connection), try Pushes.counts(campaign: "c-1", on: connection))
        }
        #expect(tenant == ["delivered": 3, "failed": 1])
        #expect(campaign == ["delivered": 2])
        await database.close()
    }

    @Test("a failing migration leaves nothing applied", arguments: TestDatabase.available)
    func failing(kind: TestDatabase) async throws {
        let database = try await kind.make()
        let broken = Schema.migrations + [Migration(version: 999, name: "broken") { _ in "CREATE TABLE ok_table (id INTEGER); THIS IS NOT SQL" }]
        await #expect(throws: SQLError.self) { try await Migrator.migrate(database, migrations: broken) }
        #expect(try await Migrator.migrate(database) == Schema.migrations.map(\.version))
        await database.close()
    }
}
