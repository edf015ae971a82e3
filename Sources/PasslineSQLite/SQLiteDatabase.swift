import Dispatch
import Foundation
import PasslineSQL

/// An SQLite database in one file: the embedded default.
///
/// One connection, confined to a serial queue of its own: SQLite has one writer at a time
/// anyway, and blocking calls stay off the cooperative pool and the event loops.
public final class SQLiteDatabase: SQLDatabase, @unchecked Sendable {
    // Safe to share: `connection` is touched only on `queue`, one closure at a time.
    public let dialect = SQLDialect.sqlite
    public let path: String
    private let queue: DispatchQueue
    private var connection: SQLiteConnection?

    /// Opens (creating if needed) the database at `path`; `:memory:` for a private in-memory one.
    /// - Throws: `SQLError.connection` naming the path.
    public init(path: String) throws {
        if path != ":memory:" && !path.hasPrefix("file:") {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
            try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        self.path = path
        self.queue = DispatchQueue(label: "passline.sqlite")
        self.connection = try SQLiteConnection(path: path)
    }

    public func withConnection<R: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> R) async throws -> R {
        try await run { connection in try body(connection) }
    }

    public func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> R) async throws -> R {
        try await run { connection in
            // IMMEDIATE takes the write lock up front, so two transactions never deadlock upgrading.
            try connection.inTransaction(begin: "BEGIN IMMEDIATE", body)
        }
    }

    public func close() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            queue.async {
                self.connection = nil
                done.resume()
            }
        }
    }

    private func run<R: Sendable>(_ body: @Sendable @escaping (SQLiteConnection) throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                guard let connection = self.connection else {
                    continuation.resume(throwing: SQLError(.connection, "The SQLite database \(self.path) is closed."))
                    return
                }
                continuation.resume(with: Result { try body(connection) })
            }
        }
    }
}
