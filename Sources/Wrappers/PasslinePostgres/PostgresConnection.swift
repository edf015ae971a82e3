import CLibpq
import Foundation
import PasslineSQL

/// One libpq connection. Not thread-safe: the pool lends it to one closure at a time, on its own queue.
final class PostgresConnection: SQLConnection {
    var dialect: SQLDialect { .postgres }
    private let handle: OpaquePointer
    /// Prepared statement names by SQL text: parsing and planning happen once per connection.
    private var prepared: [String: String] = [:]
    /// Bounds the cache: a connection that saw this many distinct statements starts over.
    private static let maxPrepared = 256

    init(conninfo: String) throws {
        guard let handle = PQconnectdb(conninfo) else { throw SQLError(.connection, "libpq could not allocate a connection.") }
        guard PQstatus(handle) == CONNECTION_OK else {
            let reason = String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(handle)
            throw SQLError(.connection, "Cannot connect to PostgreSQL: \(reason).")
        }
        self.handle = handle
        try executeScript("SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'")
    }

    deinit { PQfinish(handle) }

    /// False once the server has gone away, or a pipeline could not be ended; the pool drops such connections.
    var isHealthy: Bool { PQstatus(handle) == CONNECTION_OK && PQpipelineStatus(handle) == PQ_PIPELINE_OFF }

    func executeScript(_ sql: String) throws {
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        try check(result, sql: sql)
    }

    func query(_ sql: String, _ binds: [SQLValue]) throws -> [SQLRow] {
        let result = try run(sql, binds)
        defer { PQclear(result) }
        return Self.rows(result)
    }

    func execute(_ sql: String, _ binds: [SQLValue]) throws -> Int {
        let result = try run(sql, binds)
        defer { PQclear(result) }
        return Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    /// The statement and COMMIT in one pipeline (libpq's pipeline mode): both are sent before
    /// either answer is read, so the server runs the COMMIT right after the statement.
    func queryThenCommit(_ sql: String, _ binds: [SQLValue]) throws -> [SQLRow] {
        let name = try prepare(sql, parameters: binds.count)
        guard PQenterPipelineMode(handle) == 1 else {
            throw SQLError(.connection, "PostgreSQL: could not enter pipeline mode: \(String(cString: PQerrorMessage(handle)))")
        }
        let (lengths, formats, storage) = Self.parameters(binds)
        let sent: Bool = Self.withPointers(storage) { pointers in
            PQsendQueryPrepared(handle, name, Int32(binds.count), pointers, lengths, formats, 0) == 1
                && PQsendQueryParams(handle, "COMMIT", 0, nil, nil, nil, nil, 0) == 1
                && PQpipelineSync(handle) == 1
        }
        // Every result up to the pipeline's sync must be read before pipeline mode can end,
        // also after a failure (the COMMIT then comes back as "aborted", not run).
        var results: [OpaquePointer] = []
        var emptyInARow = 0
        if sent {
            while emptyInARow < 2 {
                guard let result = PQgetResult(handle) else { emptyInARow += 1; continue }
                emptyInARow = 0
                if PQresultStatus(result) == PGRES_PIPELINE_SYNC { PQclear(result); break }
                results.append(result)
            }
        }
        defer { results.forEach { PQclear($0) } }
        let exited = PQexitPipelineMode(handle) == 1
        guard sent, exited, results.count == 2 else {
            throw SQLError(.connection, "PostgreSQL: a statement and its COMMIT could not be sent together: \(String(cString: PQerrorMessage(handle)))")
        }
        try check(results[0], sql: sql)
        try check(results[1], sql: "COMMIT")
        // COMMIT of a transaction that had failed answers "ROLLBACK", without an error.
        guard String(cString: PQcmdStatus(results[1])) == "COMMIT" else {
            throw SQLError(.other, "PostgreSQL rolled the transaction back instead of committing it (statement: \(sql.prefix(200))).")
        }
        return Self.rows(results[0])
    }

    /// LISTEN on a channel, and the socket to wait on for notifications.
    func listen(_ channel: String) throws -> Int32 {
        try executeScript("LISTEN \(channel)")
        return PQsocket(handle)
    }

    /// Reads what the server sent and returns the channels notified since the last call.
    func notifications() throws -> [String] {
        guard PQconsumeInput(handle) == 1 else {
            throw SQLError(.connection, "PostgreSQL connection lost: \(String(cString: PQerrorMessage(handle)))")
        }
        var channels: [String] = []
        while let notify = PQnotifies(handle) {
            channels.append(String(cString: notify.pointee.relname))
            PQfreemem(notify)
        }
        return channels
    }

    private func prepare(_ sql: String, parameters: Int) throws -> String {
        if let name = prepared[sql] { return name }
        if prepared.count >= Self.maxPrepared {
            try executeScript("DEALLOCATE ALL")
            prepared.removeAll()
        }
        let name = "passline_\(prepared.count)"
        let result = PQprepare(handle, name, Self.numberPlaceholders(sql), Int32(parameters), nil)
        defer { PQclear(result) }
        try check(result, sql: sql)
        prepared[sql] = name
        return name
    }

    private func run(_ sql: String, _ binds: [SQLValue]) throws -> OpaquePointer? {
        let name = try prepare(sql, parameters: binds.count)
        let (lengths, formats, storage) = Self.parameters(binds)
        let result: OpaquePointer? = Self.withPointers(storage) { pointers in
            PQexecPrepared(handle, name, Int32(binds.count), pointers, lengths, formats, 0)
        }
        do {
            try check(result, sql: sql)
        } catch {
            PQclear(result)
            throw error
        }
        return result
    }

    /// Every value goes as a parameter: text format, except binary data.
    private static func parameters(_ binds: [SQLValue]) -> (lengths: [Int32], formats: [Int32], storage: [[CChar]?]) {
        var storage: [[CChar]?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        for value in binds {
            switch value {
            case .null: storage.append(nil); lengths.append(0); formats.append(0)
            case .int(let v): storage.append(Array(String(v).utf8CString)); lengths.append(0); formats.append(0)
            case .double(let v): storage.append(Array("\(v)".utf8CString)); lengths.append(0); formats.append(0)
            case .text(let v): storage.append(Array(v.utf8CString)); lengths.append(0); formats.append(0)
            case .blob(let v): storage.append(v.map { CChar(bitPattern: $0) }); lengths.append(Int32(v.count)); formats.append(1)
            }
        }
        return (lengths, formats, storage)
    }

    private static func withPointers<R>(_ storage: [[CChar]?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafePointer<CChar>?] = []
        var owned: [UnsafeMutableBufferPointer<CChar>] = []
        defer { owned.forEach { $0.deallocate() } }
        for item in storage {
            guard let item else { pointers.append(nil); continue }
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(item.count, 1))
            _ = buffer.initialize(from: item)
            owned.append(buffer)
            pointers.append(UnsafePointer(buffer.baseAddress))
        }
        return body(pointers)
    }

    private func check(_ result: OpaquePointer?, sql: String) throws {
        let status = result.map(PQresultStatus) ?? PGRES_FATAL_ERROR
        if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY { return }
        let reason = result.map { String(cString: PQresultErrorMessage($0)) }.flatMap { $0.isEmpty ? nil : $0 }
            ?? String(cString: PQerrorMessage(handle))
        let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) } ?? ""
        let code: SQLError.Code
        switch state {
        case "23505": code = .uniqueViolation
        case "23503": code = .foreignKeyViolation
        case _ where state.hasPrefix("23"): code = .constraint
        case "40001", "40P01": code = .serialization
        case "42601", "42P01", "42703", "42883", "42P18": code = .syntax
        case "22001", "54000": code = .tooLarge
        case _ where state.hasPrefix("08") || !isHealthy: code = .connection
        default: code = .other
        }
        throw SQLError(code, "PostgreSQL: \(reason.trimmingCharacters(in: .whitespacesAndNewlines)) (SQLSTATE \(state); statement: \(sql.prefix(200)))")
    }

    /// `?` → `$1, $2, …`, outside quoted strings, identifiers and comments.
    static func numberPlaceholders(_ sql: String) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quote: Character?
        var previous: Character = " "
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
                out.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                out.append(character)
            } else if character == "?" && previous != "?" {
                number += 1
                out.append("$\(number)")
            } else {
                out.append(character)
            }
            previous = character
        }
        return out
    }

    private static func rows(_ result: OpaquePointer?) -> [SQLRow] {
        guard let result else { return [] }
        let fieldCount = PQnfields(result), rowCount = PQntuples(result)
        let columns = (0..<fieldCount).map { String(cString: PQfname(result, $0)) }
        let types = (0..<fieldCount).map { PQftype(result, $0) }
        var rows: [SQLRow] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [SQLValue] = []
            values.reserveCapacity(Int(fieldCount))
            for field in 0..<fieldCount {
                if PQgetisnull(result, row, field) == 1 {
                    values.append(.null)
                    continue
                }
                let length = Int(PQgetlength(result, row, field))
                let raw = PQgetvalue(result, row, field)!
                let text = String(decoding: UnsafeRawBufferPointer(start: raw, count: length), as: UTF8.self)
                switch types[Int(field)] {
                case 20, 21, 23, 26: values.append(.int(Int64(text) ?? 0)) // int8, int2, int4, oid
                case 700, 701, 1700: values.append(.double(Double(text) ?? 0)) // float4, float8, numeric
                case 16: values.append(.int(text == "t" ? 1 : 0)) // bool
                case 17: values.append(.blob(Self.decodeHexBytea(text))) // bytea
                default: values.append(.text(text))
                }
            }
            rows.append(SQLRow(columns: columns, values: values))
        }
        return rows
    }

    /// bytea in text form: `\x` then two hex digits a byte (the server default since 9.0).
    private static func decodeHexBytea(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8.dropFirst(2))
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
        var i = 0
        while i + 1 < utf8.count {
            out.append(nibble(utf8[i]) << 4 | nibble(utf8[i + 1]))
            i += 2
        }
        return out
    }
}
