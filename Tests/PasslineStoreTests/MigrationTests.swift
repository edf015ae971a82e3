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

    @Test("a failing migration leaves nothing applied", arguments: TestDatabase.available)
    func failing(kind: TestDatabase) async throws {
        let database = try await kind.make()
        let broken = Schema.migrations + [Migration(version: 999, name: "broken") { _ in "CREATE TABLE ok_table (id INTEGER); THIS IS NOT SQL" }]
        await #expect(throws: SQLError.self) { try await Migrator.migrate(database, migrations: broken) }
        #expect(try await Migrator.migrate(database) == Schema.migrations.map(\.version))
        await database.close()
    }
}
