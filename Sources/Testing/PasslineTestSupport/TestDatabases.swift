import Foundation
import PasslinePostgres
import PasslineSQL
import PasslineSQLite

/// The databases a conformance test runs on: SQLite always, PostgreSQL when `scripts/test`
/// has started its throwaway cluster (it sets PASSLINE_TEST_POSTGRES).
public enum TestDatabase: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }

    /// The drivers to test here. Under CI, a missing PostgreSQL is an error, not a skip.
    public static var available: [TestDatabase] {
        if ProcessInfo.processInfo.environment["PASSLINE_TEST_POSTGRES"] != nil { return [.sqlite, .postgres] }
        if ProcessInfo.processInfo.environment["CI"] != nil {
            fatalError("PASSLINE_TEST_POSTGRES is not set: run the tests through scripts/test, which starts PostgreSQL.")
        }
        FileHandle.standardError.write(Data("note: PASSLINE_TEST_POSTGRES is not set; PostgreSQL cases are skipped (scripts/test sets it).\n".utf8))
        return [.sqlite]
    }

    /// A fresh, empty database: a new SQLite file, or a new schema in the test cluster.
    public func make(maxConnections: Int = 8) async throws -> any SQLDatabase {
        switch self {
        case .sqlite:
            return try SQLiteDatabase(path: TestSupport.temporaryFolder().appendingPathComponent("test.sqlite").path)
        case .postgres:
            return try await PostgresDatabase(conninfo: try await Self.freshSchema(), maxConnections: maxConnections)
        }
    }

    /// A connection string whose search path is a new, empty schema.
    public static func freshSchema() async throws -> String {
        let base = ProcessInfo.processInfo.environment["PASSLINE_TEST_POSTGRES"]!
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try await PostgresDatabase(conninfo: base, maxConnections: 1)
        try await admin.withConnection { try $0.executeScript("CREATE SCHEMA \(schema)") }
        await admin.close()
        return base + " options='-csearch_path=\(schema)'"
    }
}

extension TestDatabase {
    /// Another handle on the same database (a second "instance").
    public static func reopen(_ database: any SQLDatabase) async throws -> any SQLDatabase {
        if let postgres = database as? PostgresDatabase { return try await PostgresDatabase(conninfo: postgres.conninfo) }
        if let sqlite = database as? SQLiteDatabase { return try SQLiteDatabase(path: sqlite.path) }
        fatalError("unknown database \(type(of: database))")
    }
}
