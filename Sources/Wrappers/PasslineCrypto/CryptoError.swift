import COpenSSL

/// A failure in the crypto layer, phrased for the person who has to fix it.
///
/// `message` names the problem in the user's terms; `library` carries OpenSSL's own
/// reason, drained from its per-thread error queue at the failing call.
/// Neither ever holds key material or passwords.
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, as a stable code callers can match on. New codes do not break callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidCertificate, invalidKey, wrongPassword, keyMismatch
            case signingFailed, invalidSignature, generationFailed, digestFailed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The bytes are not a certificate in the expected encoding.
        public static let invalidCertificate = Code(.invalidCertificate)
        /// The bytes are not a private key, or the key cannot be used.
        public static let invalidKey = Code(.invalidKey)
        /// A passphrase or PKCS#12 password does not open the file.
        public static let wrongPassword = Code(.wrongPassword)
        /// A private key does not belong to the certificate it was paired with.
        public static let keyMismatch = Code(.keyMismatch)
        /// OpenSSL could not produce a signature.
        public static let signingFailed = Code(.signingFailed)
        /// A signature is malformed or does not verify.
        public static let invalidSignature = Code(.invalidSignature)
        /// A key or certificate could not be generated.
        public static let generationFailed = Code(.generationFailed)
        /// A digest could not be computed.
        public static let digestFailed = Code(.digestFailed)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    /// OpenSSL's reason string(s), when it gave one.
    public let library: String?

    public init(_ code: Code, _ message: String, library: String? = nil) {
        self.code = code
        self.message = message
        self.library = library
    }

    public var description: String {
        guard let library, !library.isEmpty else { return message }
        return "\(message) (OpenSSL: \(library))"
    }

    /// Builds an error and drains OpenSSL's error queue into it. Call it on the same
    /// thread, in the same synchronous block, as the failing OpenSSL call.
    static func openSSL(_ code: Code, _ message: String) -> CryptoError {
        CryptoError(code, message, library: OpenSSLErrorQueue.drain())
    }
}

enum OpenSSLErrorQueue {
    /// Empties this thread's OpenSSL error queue and returns its reasons, oldest first.
    static func drain() -> String? {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            reasons.append(text)
        }
        return reasons.isEmpty ? nil : reasons.joined(separator: "; ")
    }

    /// Drops whatever an earlier, handled failure left behind, so it is not blamed on the next call.
    static func clear() { ERR_clear_error() }
}
