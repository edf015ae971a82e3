/// A value bound into a statement or read from a row. Both drivers speak exactly these types:
/// times are stored as integer milliseconds since 1970 (UTC), money in integer minor units.
public enum SQLValue: Sendable, Equatable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
}

extension SQLValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(nilLiteral: ()) { self = .null }
}

extension SQLValue {
    public init(_ value: String?) { self = value.map(SQLValue.text) ?? .null }
    public init(_ value: Int?) { self = value.map { .int(Int64($0)) } ?? .null }
    public init(_ value: Int64?) { self = value.map(SQLValue.int) ?? .null }
    public init(_ value: Bool) { self = .int(value ? 1 : 0) }
    public init(_ value: [UInt8]?) { self = value.map(SQLValue.blob) ?? .null }
}

/// One result row: values by column position, with typed access by column name.
public struct SQLRow: Sendable, Equatable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public subscript(_ column: String) -> SQLValue? {
        columns.firstIndex(of: column).map { values[$0] }
    }

    private func value(_ column: String) throws -> SQLValue {
        guard let value = self[column] else { throw SQLError(.decoding, "The result has no column \(column).") }
        return value
    }

    public func int(_ column: String) throws -> Int64 {
        guard case .int(let value) = try value(column) else { throw SQLError(.decoding, "Column \(column) is not an integer.") }
        return value
    }

    public func optionalInt(_ column: String) throws -> Int64? {
        switch try value(column) {
        case .null: return nil
        case .int(let value): return value
        default: throw SQLError(.decoding, "Column \(column) is not an integer.")
        }
    }

    public func string(_ column: String) throws -> String {
        guard case .text(let value) = try value(column) else { throw SQLError(.decoding, "Column \(column) is not text.") }
        return value
    }

    public func optionalString(_ column: String) throws -> String? {
        switch try value(column) {
        case .null: return nil
        case .text(let value): return value
        default: throw SQLError(.decoding, "Column \(column) is not text.")
        }
    }

    public func bool(_ column: String) throws -> Bool { try int(column) != 0 }

    public func blob(_ column: String) throws -> [UInt8] {
        switch try value(column) {
        case .blob(let bytes): return bytes
        case .text(let text): return Array(text.utf8)
        default: throw SQLError(.decoding, "Column \(column) is not binary.")
        }
    }

    public func optionalBlob(_ column: String) throws -> [UInt8]? {
        if case .null = try value(column) { return nil }
        return try blob(column)
    }
}
