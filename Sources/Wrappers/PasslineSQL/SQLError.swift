/// A database failure. `message` carries the database's own words and the statement, never
/// the bound values (they may be secrets or personal data).
public struct SQLError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case connection, syntax, uniqueViolation, foreignKeyViolation, constraint, busy, serialization, decoding, tooLarge, other
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The database cannot be reached or opened.
        public static let connection = Code(.connection)
        /// The statement is not valid SQL for this database.
        public static let syntax = Code(.syntax)
        /// A unique index already holds the value.
        public static let uniqueViolation = Code(.uniqueViolation)
        /// A row refers to one that does not exist.
        public static let foreignKeyViolation = Code(.foreignKeyViolation)
        /// Another constraint (NOT NULL, CHECK, length) refused the row.
        public static let constraint = Code(.constraint)
        /// The database stayed locked past the busy timeout.
        public static let busy = Code(.busy)
        /// A serialization failure or deadlock: the transaction may be retried.
        public static let serialization = Code(.serialization)
        /// A row did not have the column or type the code expected.
        public static let decoding = Code(.decoding)
        /// A value is over what the database accepts.
        public static let tooLarge = Code(.tooLarge)
        /// Anything else.
        public static let other = Code(.other)
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
