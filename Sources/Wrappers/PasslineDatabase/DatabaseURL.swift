import Foundation
import PasslinePostgres
import PasslineSQL
import PasslineSQLite

/// Where the store lives, as `PASSLINE_DATABASE_URL` names it.
public enum DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    /// `sqlite:PATH`: one file, the embedded default.
    case sqlite(path: String)
    /// `postgres://…`, `postgresql://…`, or any libpq connection string (`host=… dbname=…`).
    case postgres(conninfo: String)

    public static let `default` = DatabaseURL.sqlite(path: "./var/passline.sqlite")

    /// Reads a URL.
    /// - Throws: `DatabaseURLError` naming the value and the forms accepted.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("sqlite:") {
            var path = String(trimmed.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) } // sqlite:///abs/path
            guard !path.isEmpty else { throw DatabaseURLError("PASSLINE_DATABASE_URL \"sqlite:\" names no file; write sqlite:./var/passline.sqlite") }
            self = .sqlite(path: path)
        } else if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") || trimmed.contains("=") {
            self = .postgres(conninfo: trimmed)
        } else {
            throw DatabaseURLError("PASSLINE_DATABASE_URL \"\(Self.redacted(trimmed))\" is not sqlite:PATH, postgres://…, postgresql://… or a libpq connection string")
        }
    }

    /// From the environment, or the default.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DatabaseURL {
        guard let value = environment["PASSLINE_DATABASE_URL"], !value.isEmpty else { return .default }
        return try DatabaseURL(parsing: value)
    }

    /// Opens the database.
    /// - Throws: `SQLError.connection` naming what could not be reached.
    public func open(maxConnections: Int = 16) async throws -> any SQLDatabase {
        switch self {
        case .sqlite(let path): return try SQLiteDatabase(path: path)
        case .postgres(let conninfo): return try await PostgresDatabase(conninfo: conninfo, maxConnections: maxConnections)
        }
    }

    /// The URL with any password hidden: safe for logs and messages.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let conninfo): Self.redacted(conninfo)
        }
    }

    static func redacted(_ text: String) -> String {
        var out = text
        // URI form: scheme://user:password@host
        if let scheme = out.range(of: "://"), let at = out[scheme.upperBound...].firstIndex(of: "@"),
           let colon = out[scheme.upperBound..<at].firstIndex(of: ":") {
            out.replaceSubrange(out.index(after: colon)..<at, with: "***")
        }
        // Key-value form: password=secret
        if let range = out.range(of: #"password\s*=\s*('[^']*'|\S+)"#, options: .regularExpression) {
            out.replaceSubrange(range, with: "password=***")
        }
        return out
    }
}

public struct DatabaseURLError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
