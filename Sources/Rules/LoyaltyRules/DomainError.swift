/// What a rule of the business refuses, with the words a user needs to put it right. The rules
/// here throw it, the store throws it for what only the data can tell (no such card, a key
/// taken), and the HTTP adapter maps each code to its status in one place.
public struct DomainError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable { case notFound, conflict, invalid, leaseLost, quotaExceeded }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// No row with that id for that tenant (another tenant's ids land here too).
        public static let notFound = Code(.notFound)
        /// The row exists already.
        public static let conflict = Code(.conflict)
        /// A value breaks a rule (a length, NUL bytes, a points change out of bounds, …).
        public static let invalid = Code(.invalid)
        /// The tenant has reached one of its limits (templates, their bytes, devices of a card).
        public static let quotaExceeded = Code(.quotaExceeded)
        /// A job's lease ran out and another worker took it over.
        public static let leaseLost = Code(.leaseLost)
        public var description: String { base.rawValue }
    }

    /// One field at fault, by its path in the request (`earnRules[0].percent`).
    public struct Fault: Sendable, Equatable {
        public let field: String
        public let message: String
        public init(_ field: String, _ message: String) {
            self.field = field
            self.message = message
        }
    }

    public let code: Code
    public let message: String
    /// Every field at fault, when a whole document was checked (a program, a reward): a caller
    /// fixes them all at once instead of one a round trip.
    public let faults: [Fault]

    public init(_ code: Code, _ message: String, faults: [Fault] = []) {
        self.code = code
        self.message = message
        self.faults = faults
    }

    /// `.invalid` with every fault, or nothing when there is none.
    public static func check(_ faults: [Fault], _ message: String) throws(DomainError) {
        guard !faults.isEmpty else { return }
        throw DomainError(.invalid, faults.count == 1 ? "\(message): \(faults[0].field) \(faults[0].message)" : "\(message): \(faults.count) fields are not valid.",
                          faults: faults)
    }

    public var description: String { message }
}

/// The rule for every text a caller stores: no NUL (PostgreSQL refuses it in text, and SQLite
/// would keep it), and a length limit per field (SQLite would store any length), so both
/// databases behave alike.
public enum TextRules {
    /// - Throws: `DomainError.invalid` naming the field.
    public static func check(_ value: String, field: String, maxLength: Int) throws {
        if value.utf8.contains(0) { throw DomainError(.invalid, "\(field) must not contain NUL characters.") }
        let count = value.count
        if count > maxLength { throw DomainError(.invalid, "\(field) is \(count) characters long; at most \(maxLength) are allowed.") }
    }
}
