import CSQLite
import PasslineSQL

/// One SQLite connection. Not thread-safe: `SQLiteDatabase` confines it to one queue.
final class SQLiteConnection: SQLConnection {
    var dialect: SQLDialect { .sqlite }
    private let handle: OpaquePointer
    /// Prepared statements by SQL text, reused across calls.
    private var statements: [String: OpaquePointer] = [:]

    init(path: String) throws {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let reason = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let handle { sqlite3_close_v2(handle) }
            throw SQLError(.connection, "Cannot open the SQLite database \(path): \(reason).")
        }
        self.handle = handle
        sqlite3_extended_result_codes(handle, 1)
        // Before anything else: switching to WAL (and recovering a WAL left by a killed
        // process) needs a lock another process may hold, and without a busy timeout
        // SQLite gives up at once with "database is locked".
        sqlite3_busy_timeout(handle, 5000)
        // WAL lets readers work while one writer commits; NORMAL sync is durable in WAL
        // except for the last transactions on power loss, not on a process crash. A log that
        // a large commit grew is cut back to 64 MB once it has been copied into the database.
        try executeScript("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA foreign_keys = ON;
            PRAGMA journal_size_limit = 67108864;
            """)
    }

    /// Told of every commit while the hook is installed; kept here so that it outlives the handle.
    private var checkpointer: WALCheckpointer?

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Whether the database is in WAL mode (an in-memory one is not).
    var isWAL: Bool {
        (try? query("PRAGMA journal_mode", []).first?.string("journal_mode"))?.lowercased() == "wal"
    }

    /// Hands this connection's checkpoints to `checkpointer`. SQLite's own automatic
    /// checkpoint (run inside the COMMIT that grows the log past 1,000 pages) no longer runs.
    func checkpoint(with checkpointer: WALCheckpointer) {
        self.checkpointer = checkpointer
        // The hook replaces the automatic checkpoint (which is itself a WAL hook).
        sqlite3_wal_hook(handle, { context, handle, database, pages in
            guard let context else { return SQLITE_OK }
            let checkpointer = Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue()
            // Busy while another process checkpoints: then again after the next commit.
            if checkpointer.logGrew(toPages: pages), sqlite3_wal_checkpoint_v2(handle, database, SQLITE_CHECKPOINT_PASSIVE, nil, nil) == SQLITE_OK {
                checkpointer.writerCheckpointed()
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(checkpointer).toOpaque())
    }

    /// Copies what it can of the log into the database file without blocking writers or readers.
    /// - Returns: the pages in the log, and how many of them are now in the database file.
    @discardableResult
    func checkpoint() throws -> (logged: Int32, copied: Int32) {
        var logged: Int32 = 0, copied: Int32 = 0
        let status = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &logged, &copied)
        guard status == SQLITE_OK else { throw Self.error(status, String(cString: sqlite3_errmsg(handle)), sql: "PRAGMA wal_checkpoint(PASSIVE)") }
        return (logged, copied)
    }

    /// SQLite is in process: there is no round trip to save, so the two simply run in turn.
    func queryThenCommit(_ sql: String, _ binds: [SQLValue]) throws -> [SQLRow] {
        let rows = try query(sql, binds)
        try executeScript("COMMIT")
        return rows
    }

    func executeScript(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        guard status == SQLITE_OK else {
            let reason = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw Self.error(status, reason, sql: sql)
        }
    }

    func query(_ sql: String, _ binds: [SQLValue]) throws -> [SQLRow] {
        let statement = try prepare(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(binds, to: statement, sql: sql)
        let count = Int(sqlite3_column_count(statement))
        let columns = (0..<count).map { String(cString: sqlite3_column_name(statement, Int32($0))) }
        var rows: [SQLRow] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { throw Self.error(status, String(cString: sqlite3_errmsg(handle)), sql: sql) }
            var values: [SQLValue] = []
            values.reserveCapacity(count)
            for index in 0..<Int32(count) {
                switch sqlite3_column_type(statement, index) {
                case SQLITE_INTEGER: values.append(.int(sqlite3_column_int64(statement, index)))
                case SQLITE_FLOAT: values.append(.double(sqlite3_column_double(statement, index)))
                case SQLITE_TEXT:
                    let length = Int(sqlite3_column_bytes(statement, index))
                    let text = sqlite3_column_text(statement, index)
                    values.append(.text(text.map { String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self) } ?? ""))
                case SQLITE_BLOB:
                    let length = Int(sqlite3_column_bytes(statement, index))
                    let data = sqlite3_column_blob(statement, index)
                    values.append(.blob(data.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []))
                default: values.append(.null)
                }
            }
            rows.append(SQLRow(columns: columns, values: values))
        }
        return rows
    }

    func execute(_ sql: String, _ binds: [SQLValue]) throws -> Int {
        _ = try query(sql, binds)
        return Int(sqlite3_changes(handle))
    }

    private func prepare(_ sql: String) throws -> OpaquePointer {
        if let cached = statements[sql] { return cached }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else {
            throw Self.error(status, String(cString: sqlite3_errmsg(handle)), sql: sql)
        }
        statements[sql] = statement
        return statement
    }

    private func bind(_ binds: [SQLValue], to statement: OpaquePointer, sql: String) throws {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard expected == binds.count else {
            throw SQLError(.syntax, "The statement takes \(expected) values but \(binds.count) were given: \(sql)")
        }
        for (offset, value) in binds.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .null: status = sqlite3_bind_null(statement, index)
            case .int(let v): status = sqlite3_bind_int64(statement, index, v)
            case .double(let v): status = sqlite3_bind_double(statement, index, v)
            case .text(let v):
                // With an explicit byte length, text with NUL bytes is stored whole.
                let utf8 = Array(v.utf8) + [0]
                status = utf8.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { passline_sqlite3_bind_text_copy(statement, index, $0.baseAddress!, Int32(buffer.count - 1)) }
                }
            case .blob(let v):
                // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
                let bytes = v.isEmpty ? [0] : v
                status = bytes.withUnsafeBytes { passline_sqlite3_bind_blob_copy(statement, index, $0.baseAddress!, Int32(v.count)) }
            }
            guard status == SQLITE_OK else { throw Self.error(status, String(cString: sqlite3_errmsg(handle)), sql: sql) }
        }
    }

    static func error(_ status: Int32, _ reason: String, sql: String) -> SQLError {
        let code: SQLError.Code
        switch status {
        case 2067, 1555: code = .uniqueViolation // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
        case 787: code = .foreignKeyViolation // SQLITE_CONSTRAINT_FOREIGNKEY
        case _ where status & 0xFF == SQLITE_CONSTRAINT: code = .constraint
        case _ where status & 0xFF == SQLITE_BUSY, _ where status & 0xFF == SQLITE_LOCKED: code = .busy
        case SQLITE_TOOBIG: code = .tooLarge
        case SQLITE_CANTOPEN, SQLITE_NOTADB: code = .connection
        case _ where reason.contains("syntax error") || reason.hasPrefix("no such"): code = .syntax
        default: code = .other
        }
        return SQLError(code, "SQLite: \(reason) (statement: \(sql.prefix(200)))")
    }
}
