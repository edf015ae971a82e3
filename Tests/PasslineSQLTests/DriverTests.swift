import Foundation
import PasslinePostgres
import PasslineSQL
import PasslineSQLite
import PasslineTestSupport
import Testing

/// The same behaviour from both drivers.
@Suite("SQL drivers")
struct DriverTests {
    static let databases = TestDatabase.available

    func withTable<R: Sendable>(_ kind: TestDatabase, _ body: (any SQLDatabase) async throws -> R) async throws -> R {
        let database = try await kind.make()
        let blob = database.dialect.blobType
        try await database.withConnection { connection in
            try connection.executeScript("""
                CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, note TEXT, data \(blob), amount DOUBLE PRECISION);
                """)
        }
        let result = try await body(database)
        await database.close()
        return result
    }

    @Test("a transaction's body can end it with a statement sent together with COMMIT; a failure there commits nothing", arguments: databases)
    func queryThenCommit(kind: TestDatabase) async throws {
        // One connection: the one that ran the pipelined COMMIT must serve what comes after.
        let database = try await kind.make(maxConnections: 1)
        try await database.withConnection { try $0.executeScript("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE)") }

        let rows = try await database.transaction { connection in
            try connection.execute("INSERT INTO items (id, name) VALUES (?, ?)", [.int(1), .text("one")])
            return try connection.queryThenCommit("UPDATE items SET name = ? WHERE id = ? RETURNING name", [.text("uno"), .int(1)])
        }
        #expect(try rows.map { try $0.string("name") } == ["uno"])

        // The statement fails (a duplicate name): the row inserted before it is not kept.
        await #expect(throws: SQLError.self) {
            try await database.transaction { connection in
                try connection.execute("INSERT INTO items (id, name) VALUES (?, ?)", [.int(2), .text("two")])
                _ = try connection.queryThenCommit("INSERT INTO items (id, name) VALUES (?, ?) RETURNING id", [.int(3), .text("uno")])
            }
        }
        // Nothing may run after the COMMIT: it would be outside the transaction.
        await #expect(throws: SQLError.self) {
            try await database.transaction { connection in
                _ = try connection.queryThenCommit("INSERT INTO items (id, name) VALUES (?, ?) RETURNING id", [.int(4), .text("four")])
                try connection.execute("INSERT INTO items (id, name) VALUES (?, ?)", [.int(5), .text("five")])
            }
        }
        let names = try await database.withConnection { connection in
            try connection.query("SELECT name FROM items ORDER BY id", []).map { try $0.string("name") }
        }
        #expect(names == ["uno", "four"])
        // The connection is in its normal mode again: ordinary transactions work on it.
        try await database.transaction { try $0.execute("INSERT INTO items (id, name) VALUES (?, ?)", [.int(6), .text("six")]) }
        #expect(try await database.withConnection { try $0.query("SELECT count(*) AS n FROM items", [])[0].int("n") } == 3)
        await database.close()
    }

    @Test("values come back as they went in", arguments: databases)
    func roundTrip(kind: TestDatabase) async throws {
        try await withTable(kind) { database in
            let hostile = "Zoë \"Z\" O'Brien 🌸 '; DROP TABLE items; -- ?\\"
            let bytes: [UInt8] = [0, 1, 2, 255, 0, 128]
            let row = try await database.withConnection { connection -> SQLRow? in
                try connection.execute("INSERT INTO items (id, name, note, data, amount) VALUES (?, ?, ?, ?, ?)",
                                       [.int(Int64.max), .text(hostile), .null, .blob(bytes), .double(1.5)])
                try connection.execute("INSERT INTO items (id, name, data) VALUES (?, ?, ?)", [.int(-1), .text(""), .blob([])])
                return try connection.first("SELECT id, name, note, data, amount FROM items WHERE name = ?", [.text(hostile)])
            }
            let found = try #require(row)
            #expect(try found.int("id") == Int64.max)
            #expect(try found.string("name") == hostile)
            #expect(found["note"] == .null)
            #expect(try found.blob("data") == bytes)
            #expect(found["amount"] == .double(1.5))
            let empty = try await database.withConnection { try $0.first("SELECT name, data FROM items WHERE id = ?", [.int(-1)]) }
            #expect(try empty?.string("name") == "")
            #expect(try empty?.blob("data") == [])
            // The hostile text was data, not SQL: the table is still there.
            let count = try await database.withConnection { try $0.first("SELECT COUNT(*) AS n FROM items", []) }
            #expect(try count?.int("n") == 2)
        }
    }

    @Test("a question mark inside a quoted string is not a placeholder", arguments: databases)
    func quotedPlaceholder(kind: TestDatabase) async throws {
        try await withTable(kind) { database in
            let row = try await database.withConnection { try $0.first("SELECT 'what?' AS q, ? AS v", [.text("x")]) }
            #expect(try row?.string("q") == "what?")
        }
    }

    @Test("a duplicate is a unique violation, and a rolled-back transaction leaves nothing", arguments: databases)
    func uniqueAndRollback(kind: TestDatabase) async throws {
        try await withTable(kind) { database in
            _ = try await database.withConnection { try $0.execute("INSERT INTO items (id, name) VALUES (1, 'a')", []) }
            do {
                _ = try await database.transaction { connection in
                    try connection.execute("INSERT INTO items (id, name) VALUES (2, 'b')", [])
                    try connection.execute("INSERT INTO items (id, name) VALUES (3, 'a')", [])
                }
                Issue.record("a duplicate name was accepted")
            } catch let error as SQLError {
                #expect(error.code == .uniqueViolation, "\(error)")
            }
            let names = try await database.withConnection { try $0.query("SELECT name FROM items ORDER BY id", []).map { try $0.string("name") } }
            #expect(names == ["a"])
        }
    }

    @Test("broken SQL is a syntax error naming the statement", arguments: databases)
    func syntax(kind: TestDatabase) async throws {
        try await withTable(kind) { database in
            do {
                _ = try await database.withConnection { try $0.query("SELEC nothing", []) }
                Issue.record("broken SQL ran")
            } catch let error as SQLError {
                #expect(error.code == .syntax)
                #expect(error.message.contains("SELEC nothing"))
            }
        }
    }

    @Test("many concurrent callers all get served", arguments: databases)
    func concurrency(kind: TestDatabase) async throws {
        try await withTable(kind) { database in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<64 {
                    group.addTask {
                        _ = try await database.transaction { try $0.execute("INSERT INTO items (id, name) VALUES (?, ?)", [.int(Int64(i)), .text("n\(i)")]) }
                    }
                }
                try await group.waitForAll()
            }
            let count = try await database.withConnection { try $0.first("SELECT COUNT(*) AS n FROM items", []) }
            #expect(try count?.int("n") == 64)
        }
    }

    @Test("an unreachable PostgreSQL is a connection error naming the reason")
    func unreachable() async {
        do {
            _ = try await PostgresDatabase(conninfo: "host=/nonexistent-socket-dir dbname=x connect_timeout=2")
            Issue.record("connected to nothing")
        } catch let error as SQLError {
            #expect(error.code == .connection)
            #expect(error.message.contains("Cannot connect to PostgreSQL"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("an SQLite path that cannot be a database is named")
    func badSQLitePath() {
        #expect { try SQLiteDatabase(path: "/proc/passline/nope.sqlite") } throws: { "\($0)".contains("/proc/passline/nope.sqlite") }
    }
}

@Suite("SQLite settings")
struct SQLiteSettingsTests {
    @Test("WAL, a busy timeout and foreign keys are on for every connection")
    func pragmas() async throws {
        let database = try SQLiteDatabase(path: TestSupport.temporaryFolder().appendingPathComponent("p.sqlite").path)
        let values = try await database.withConnection { connection in
            try ["journal_mode", "busy_timeout", "foreign_keys"].map { try connection.first("PRAGMA \($0)", [])!.values[0] }
        }
        #expect(values == [.text("wal"), .int(5000), .int(1)])
        await database.close()
    }

    @Test("the log a large commit writes is copied into the database by a thread of its own, and stays bounded however much is written")
    func checkpointsBesideTheWriter() async throws {
        let path = TestSupport.temporaryFolder().appendingPathComponent("wal.sqlite").path
        // A tenth of the service's limits (1,000 and 8,000 pages), so that the test writes 20 MB,
        // not 200, beside every other test of the process.
        let database = try SQLiteDatabase(path: path, checkpointAtPages: 100, writerCheckpointsAfterPages: 800)
        try await database.withConnection { try $0.executeScript("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)") }
        func size(_ file: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? 0 }
        let page = [UInt8](repeating: 7, count: 4_000)
        var written = 0, largestLog = 0
        // 50 commits of 400 KB each, as fast as the writer goes: 20 MB through a log that
        // should stay near 800 pages.
        for commit in 0..<50 {
            try await database.transaction { connection in
                for row in 0..<100 { try connection.execute("INSERT INTO t (id, data) VALUES (?, ?)", [.int(Int64(commit * 100 + row)), .blob(page)]) }
            }
            written += 100
            largestLog = max(largestLog, size(path + "-wal"))
        }
        let threads = (try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")).compactMap {
            try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(threads.contains("passline.wal"))
        // Twice the 800 pages after which the writer takes over (4 KB and a frame header each),
        // and one commit more.
        #expect(largestLog < 8 * 1_048_576, "the log grew to \(largestLog) bytes")
        // The writer's connection is still open, so only the checkpointer can have put the rows
        // into the database file.
        var copied = size(path)
        for _ in 0..<100 where copied < 19 * 1_000_000 {
            try await Task.sleep(for: .milliseconds(100))
            copied = size(path)
        }
        #expect(copied >= 19 * 1_000_000, "the database file holds \(copied) bytes of 20 MB written")
        await database.close()

        let reopened = try SQLiteDatabase(path: path)
        let rows = try await reopened.withConnection { try $0.first("SELECT COUNT(*) AS n, SUM(length(data)) AS bytes FROM t", [])! }
        #expect(try rows.int("n") == Int64(written))
        #expect(try rows.int("bytes") == Int64(written * page.count))
        await reopened.close()
    }

    @Test("opening waits for a lock another connection holds instead of failing with \"database is locked\"")
    func openWaitsForLock() async throws {
        let path = TestSupport.temporaryFolder().appendingPathComponent("locked.sqlite").path
        let holder = try SQLiteDatabase(path: path)
        // Out of WAL and holding an exclusive lock: a second connection's switch to WAL must
        // wait for it, as a process starting while another checkpoints or recovers must.
        let opened = try await holder.withConnection { connection -> String in
            try connection.executeScript("PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE; CREATE TABLE t (x INTEGER);")
            let result = OpenResult()
            let thread = Thread {
                do { _ = try SQLiteDatabase(path: path); result.set("opened") } catch { result.set("\(error)") }
            }
            thread.start()
            Thread.sleep(forTimeInterval: 0.3)
            try connection.executeScript("COMMIT;")
            return result.wait()
        }
        #expect(opened == "opened")
        await holder.close()
    }
}

/// The outcome of an open on another thread.
private final class OpenResult: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var value = ""
    func set(_ value: String) { self.value = value; done.signal() }
    func wait() -> String { done.wait(); return value }
}
