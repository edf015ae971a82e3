/// A failure reading or writing a zip archive.
public struct ZipError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable { case notAZip, damaged, tooLarge, missingEntry, writeFailed }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The bytes are not a zip archive.
        public static let notAZip = Code(.notAZip)
        /// The archive opened but an entry could not be read.
        public static let damaged = Code(.damaged)
        /// The archive is over a limit (entries, or bytes once uncompressed).
        public static let tooLarge = Code(.tooLarge)
        /// No entry has the name asked for.
        public static let missingEntry = Code(.missingEntry)
        /// The archive could not be written.
        public static let writeFailed = Code(.writeFailed)
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
