import COpenSSL
import Foundation

/// Makes PKCS#7 detached signatures (DER) with one certificate and key, carrying the
/// intermediates given. OpenSSL adds the signing-time, content-type and digest attributes.
public final class DetachedSigner: @unchecked Sendable {
    // Safe to share: the certificate stack is built once and only read afterwards (PKCS7_sign
    // takes its own references), and certificate and key are themselves safe to share.
    public let certificate: Certificate
    public let key: PrivateKey
    public let intermediates: [Certificate]
    private let stack: OpaquePointer

    /// - Throws: `CryptoError.keyMismatch` when `key` is not the key of `certificate`.
    public init(certificate: Certificate, key: PrivateKey, intermediates: [Certificate]) throws {
        guard key.matches(certificate) else {
            throw CryptoError(.keyMismatch, "The private key does not belong to the certificate \(certificate.subject).")
        }
        guard let stack = passline_sk_X509_new() else {
            throw CryptoError.openSSL(.signingFailed, "Out of memory while preparing the signer.")
        }
        for intermediate in intermediates { _ = passline_sk_X509_push(stack, intermediate.pointer) }
        self.certificate = certificate
        self.key = key
        self.intermediates = intermediates
        self.stack = stack
    }

    deinit { passline_sk_X509_free(stack) }

    /// Signs `content` and returns the detached signature as DER.
    /// - Throws: `CryptoError.signingFailed`.
    public func sign(_ content: [UInt8]) throws -> [UInt8] {
        OpenSSLErrorQueue.clear()
        let flags = Int32(PKCS7_DETACHED | PKCS7_BINARY | PKCS7_NOSMIMECAP)
        let p7: UnsafeMutablePointer<PKCS7>? = try withReadBIO(content) { bio in
            PKCS7_sign(certificate.pointer, key.pointer, stack, bio, flags)
        }
        guard let p7 else { throw CryptoError.openSSL(.signingFailed, "OpenSSL could not sign the manifest.") }
        defer { PKCS7_free(p7) }
        let length = i2d_PKCS7(p7, nil)
        guard length > 0 else { throw CryptoError.openSSL(.signingFailed, "OpenSSL could not encode the signature.") }
        var der = [UInt8](repeating: 0, count: Int(length))
        der.withUnsafeMutableBufferPointer { buffer in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d_PKCS7(p7, &cursor)
        }
        return der
    }
}
