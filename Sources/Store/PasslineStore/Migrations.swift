import PasslineSQL

/// One step of the schema. Never edit one that has shipped: add the next.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: @Sendable (SQLDialect) -> String

    public init(version: Int, name: String, sql: @escaping @Sendable (SQLDialect) -> String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies pending migrations, once, even when several instances start together.
public enum Migrator {
    /// The key of the PostgreSQL advisory lock that serializes migrating instances.
    static let lockKey: Int64 = 0x5041_5353_4C49_4E45 // "PASSLINE"

    /// Applies every migration not yet recorded in `schema_migrations` and returns the versions applied.
    ///
    /// All of it happens in one transaction. On PostgreSQL it starts by taking an advisory
    /// transaction lock, so a second instance waits and then finds nothing left to do; on SQLite
    /// the transaction takes the write lock up front.
    /// - Throws: `SQLError` when a migration fails; nothing of the run is left applied.
    @discardableResult
    public static func migrate(_ database: any SQLDatabase, migrations: [Migration] = Schema.migrations, now: Int64 = WallClock.milliseconds()) async throws -> [Int] {
        let dialect = database.dialect
        return try await database.transaction { connection in
            if dialect == .postgres {
                _ = try connection.query("SELECT pg_advisory_xact_lock(?)", [.int(lockKey)])
            }
            try connection.executeScript("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at BIGINT NOT NULL
                )
                """)
            let applied = Set(try connection.query("SELECT version FROM schema_migrations", []).map { try $0.int("version") })
            var done: [Int] = []
            for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(Int64(migration.version)) {
                try connection.executeScript(migration.sql(dialect))
                try connection.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                                       [.int(Int64(migration.version)), .text(migration.name), .int(now)])
                done.append(migration.version)
            }
            return done
        }
    }

    /// The versions applied so far.
    public static func applied(_ database: any SQLDatabase) async throws -> [Int] {
        try await database.withConnection { connection in
            try connection.query("SELECT version FROM schema_migrations ORDER BY version", []).map { Int(try $0.int("version")) }
        }
    }
}

/// Milliseconds since 1970, UTC: how the store writes times.
public enum WallClock {
    public static func milliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
