/// A store-level failure: something a caller asked for that the data does not allow.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable { case notFound, conflict, invalid, leaseLost, quotaExceeded }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// No row with that id for that tenant (another tenant's ids land here too).
        public static let notFound = Code(.notFound)
        /// The row exists already.
        public static let conflict = Code(.conflict)
        /// A value breaks a rule of the store (length, NUL bytes, …).
        public static let invalid = Code(.invalid)
        /// The tenant has reached one of its limits (templates, their bytes, devices of a card).
        public static let quotaExceeded = Code(.quotaExceeded)
        /// A job's lease ran out and another worker took it over.
        public static let leaseLost = Code(.leaseLost)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Checks text before it reaches either database, so both behave alike: PostgreSQL refuses
/// NUL bytes in text, and SQLite would store any length.
public enum TextRules {
    /// - Throws: `StoreError.invalid` naming the field.
    public static func check(_ value: String, field: String, maxLength: Int) throws {
        if value.utf8.contains(0) { throw StoreError(.invalid, "\(field) must not contain NUL characters.") }
        let count = value.count
        if count > maxLength { throw StoreError(.invalid, "\(field) is \(count) characters long; at most \(maxLength) are allowed.") }
    }
}
