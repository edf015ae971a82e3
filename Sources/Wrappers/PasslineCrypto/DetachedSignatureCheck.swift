import COpenSSL
import Foundation

/// What a PKCS#7 detached signature says about itself and the content it signs.
public struct DetachedSignatureReport: Sendable {
    /// True when the signature carries no content of its own (detached), as Wallet requires.
    public var isDetached: Bool
    public var signerCount: Int
    /// The signer's certificate, when it is among the certificates carried.
    public var signer: Certificate?
    /// Every certificate the signature carries (the signer and any intermediates).
    public var includedCertificates: [Certificate]
    public var signingTime: Date?
    /// Whether the signature verifies over the content (the digest and the signer's key).
    public var signatureValid: Bool
    /// Why it does not, when it does not.
    public var signatureProblem: String?
    /// The chain check against the trust anchors given: nil when none were given.
    public var chainProblem: String??
}

/// Checks PKCS#7 detached signatures.
public enum DetachedSignatureCheck {
    /// Parses a DER signature and checks it over `content`.
    /// - Parameters:
    ///   - signature: the DER bytes of the signature file.
    ///   - content: the bytes it claims to sign.
    ///   - trustAnchors: certificates to chain to; a root or an intermediate is enough (partial
    ///     chains are accepted). `nil` skips the chain check.
    /// - Throws: `CryptoError.invalidSignature` when the bytes are not a PKCS#7 signedData.
    public static func check(signature: [UInt8], content: [UInt8], trustAnchors: [Certificate]?, at time: Date = Date()) throws -> DetachedSignatureReport {
        OpenSSLErrorQueue.clear()
        let p7: UnsafeMutablePointer<PKCS7>? = signature.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PKCS7(nil, &cursor, buffer.count)
        }
        guard let p7 else { throw CryptoError.openSSL(.invalidSignature, "The signature is not DER-encoded PKCS#7.") }
        defer { PKCS7_free(p7) }
        guard passline_PKCS7_is_signed(p7) == 1 else {
            throw CryptoError(.invalidSignature, "The signature is PKCS#7 but not signedData.")
        }

        let carried = passline_PKCS7_certs(p7)
        var included: [Certificate] = []
        for index in 0..<passline_sk_X509_num(carried) {
            if let x509 = passline_sk_X509_value(carried, index) { included.append(Certificate(borrowing: x509)) }
        }

        var signer: Certificate?
        if let signers = PKCS7_get0_signers(p7, nil, 0) {
            if passline_sk_X509_num(signers) > 0, let x509 = passline_sk_X509_value(signers, 0) {
                signer = Certificate(borrowing: x509)
            }
            passline_sk_X509_free(signers)
        }
        OpenSSLErrorQueue.clear()

        var seconds: time_t = 0
        let signingTime = passline_PKCS7_signing_time(p7, &seconds) == 1 ? Date(timeIntervalSince1970: TimeInterval(seconds)) : nil

        // The signature itself, with no chain building: that is judged separately below, with
        // purpose "any", since Apple's pass certificates carry their own extended key usage.
        var signatureProblem: String?
        let verified: Bool = (try? withReadBIO(content) { bio in
            PKCS7_verify(p7, nil, nil, bio, nil, Int32(PKCS7_NOVERIFY | PKCS7_BINARY)) == 1
        }) ?? false
        if !verified {
            signatureProblem = OpenSSLErrorQueue.drain() ?? "the signature does not match the content"
        }

        var chainProblem: String??
        if let trustAnchors {
            if let signer {
                chainProblem = .some(verifyChain(signer, untrusted: included, anchors: trustAnchors, at: time))
            } else {
                chainProblem = .some("the signer's certificate is not in the signature, so no chain can be built")
            }
        }

        return DetachedSignatureReport(
            isDetached: passline_PKCS7_is_detached(p7) == 1,
            signerCount: Int(passline_PKCS7_signer_count(p7)),
            signer: signer,
            includedCertificates: included,
            signingTime: signingTime,
            signatureValid: verified,
            signatureProblem: signatureProblem,
            chainProblem: chainProblem
        )
    }

    /// Builds and verifies `leaf`'s chain up to one of `anchors`; nil when it holds, else why not.
    public static func verifyChain(_ leaf: Certificate, untrusted: [Certificate], anchors: [Certificate], at time: Date = Date()) -> String? {
        OpenSSLErrorQueue.clear()
        guard let store = X509_STORE_new(), let context = X509_STORE_CTX_new(), let pool = passline_sk_X509_new() else {
            return "out of memory"
        }
        defer {
            X509_STORE_CTX_free(context)
            X509_STORE_free(store)
            passline_sk_X509_free(pool)
        }
        for anchor in anchors { _ = X509_STORE_add_cert(store, anchor.pointer) }
        for certificate in untrusted { _ = passline_sk_X509_push(pool, certificate.pointer) }
        _ = X509_STORE_set_flags(store, UInt(X509_V_FLAG_PARTIAL_CHAIN))
        guard X509_STORE_CTX_init(context, store, leaf.pointer, pool) == 1 else {
            return OpenSSLErrorQueue.drain() ?? "could not set up chain verification"
        }
        X509_STORE_CTX_set_time(context, 0, time_t(time.timeIntervalSince1970))
        if X509_verify_cert(context) == 1 { return nil }
        let code = X509_STORE_CTX_get_error(context)
        OpenSSLErrorQueue.clear()
        return String(cString: X509_verify_cert_error_string(Int(code)))
    }
}
