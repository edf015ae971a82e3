/// What went wrong on the Google Wallet side, with what a user needs to fix it.
public struct GoogleWalletError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        /// The service-account key file is not what Google issues.
        case invalidServiceAccount
        /// An issuer id, class or object that Google would refuse.
        case invalidConfiguration
        /// A save link whose JWT would pass Google's limit for web links.
        case linkTooLong
    }

    public let code: Code
    public let message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
