/// One thing a check found in a template, a card's data or a built pass.
public struct PassFinding: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable, Comparable {
        /// Wallet would reject the pass, or show it wrong.
        case error
        /// Wallet accepts it, but something is probably not what was meant.
        case warning

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs == .error && rhs == .warning }
    }

    public let severity: Severity
    /// The file at fault, relative to the template or pass (`pass.json`, `en.lproj/logo.png`, …).
    public let file: String
    /// The JSON path within the file (`storeCard.primaryFields[0].value`), when there is one.
    public let field: String?
    public let message: String

    public init(_ severity: Severity, file: String, field: String? = nil, _ message: String) {
        self.severity = severity
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String {
        let place = field.map { "\(file): \($0)" } ?? file
        return "\(severity.rawValue): \(place): \(message)"
    }
}

extension Array where Element == PassFinding {
    public var errors: [PassFinding] { filter { $0.severity == .error } }
    public var warnings: [PassFinding] { filter { $0.severity == .warning } }
    public var hasErrors: Bool { contains { $0.severity == .error } }
}

/// A failure to load a template, read card data, load a signing identity or build a pass.
public struct PassError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable { case invalidTemplate, invalidCardData, invalidIdentity, unreadableFile, buildFailed, invalidPass }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The template folder or upload breaks a rule; `findings` lists every break.
        public static let invalidTemplate = Code(.invalidTemplate)
        /// The card's data is missing a value or has one of the wrong type.
        public static let invalidCardData = Code(.invalidCardData)
        /// The signing identity is unusable (wrong key, expired, wrong intermediate, …).
        public static let invalidIdentity = Code(.invalidIdentity)
        /// A file could not be read.
        public static let unreadableFile = Code(.unreadableFile)
        /// Signing or zipping failed.
        public static let buildFailed = Code(.buildFailed)
        /// A pass package could not be opened at all.
        public static let invalidPass = Code(.invalidPass)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    /// Every fault found, when the error sums up several.
    public let findings: [PassFinding]

    public init(_ code: Code, _ message: String, findings: [PassFinding] = []) {
        self.code = code
        self.message = message
        self.findings = findings
    }

    public var description: String {
        let details = findings.errors
        guard !details.isEmpty else { return message }
        return ([message] + details.map { "  \($0)" }).joined(separator: "\n")
    }
}
