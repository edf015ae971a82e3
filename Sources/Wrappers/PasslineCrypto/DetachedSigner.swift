import COpenSSL
import Foundation
import Synchronization

/// Makes PKCS#7 detached signatures (DER), as Wallet wants for a pass's manifest: SHA-256, the
/// signer's certificate and the intermediates carried, and signed attributes with the content
/// type, the signing time and the message digest.
///
/// `PKCS7_sign` spends about as long again as the RSA operation itself on things that are the
/// same for every signature (algorithm fetches, building and encoding the certificate set), and
/// a pass service signs with one identity many thousands of times. So the constant parts are
/// encoded once here, and a signature costs one SHA-256 of the content, one of the attributes,
/// and the private-key operation on a reused context. OpenSSL's `PKCS7_verify` and the
/// `openssl smime` command check the result in the tests.
public final class DetachedSigner: Sendable {
    public let certificate: Certificate
    public let key: PrivateKey
    public let intermediates: [Certificate]

    /// `SignerInfo` fields before the attributes: version, issuer and serial, digest algorithm.
    private let signerInfoHead: [UInt8]
    /// `SignedData` fields before the signer infos: version, algorithms, empty content, certificates.
    private let signedDataHead: [UInt8]
    private let signatureAlgorithm: [UInt8]
    /// Signing contexts to reuse: each serves one signature at a time.
    private let contexts = Mutex<[DigestSigner]>([])

    private static let sha256 = "2.16.840.1.101.3.4.2.1"
    private static let pkcs7Data = "1.2.840.113549.1.7.1"
    private static let pkcs7SignedData = "1.2.840.113549.1.7.2"
    private static let contentTypeAttribute = DER.objectIdentifier("1.2.840.113549.1.9.3")
    private static let messageDigestAttribute = DER.objectIdentifier("1.2.840.113549.1.9.4")
    private static let signingTimeAttribute = DER.objectIdentifier("1.2.840.113549.1.9.5")
    /// The content-type attribute whole, and the OIDs a signature repeats, encoded once.
    private static let contentTypeData = DER.tlv(DER.sequence, contentTypeAttribute + DER.tlv(DER.set, DER.objectIdentifier(pkcs7Data)))
    private static let signedDataOID = DER.objectIdentifier(pkcs7SignedData)

    /// - Throws: `CryptoError.keyMismatch` when `key` is not the key of `certificate`,
    ///   `.invalidKey` when the key is neither RSA nor EC.
    public init(certificate: Certificate, key: PrivateKey, intermediates: [Certificate]) throws {
        guard key.matches(certificate) else {
            throw CryptoError(.keyMismatch, "The private key does not belong to the certificate \(certificate.subject).")
        }
        switch EVP_PKEY_get_base_id(key.pointer) {
        case EVP_PKEY_RSA: signatureAlgorithm = DER.algorithm("1.2.840.113549.1.1.1")
        case EVP_PKEY_EC: signatureAlgorithm = DER.algorithm("1.2.840.10045.4.3.2", nullParameters: false)
        default: throw CryptoError(.invalidKey, "Only RSA and EC keys can sign passes.")
        }
        self.certificate = certificate
        self.key = key
        self.intermediates = intermediates

        let digestAlgorithm = DER.algorithm(Self.sha256)
        var head: [UInt8] = []
        DER.append(DER.integer, [1], to: &head)
        head += DER.tlv(DER.sequence, try Self.issuerDER(certificate) + (try Self.serialDER(certificate)))
        head += digestAlgorithm
        signerInfoHead = head

        var signed: [UInt8] = []
        DER.append(DER.integer, [1], to: &signed)
        signed += DER.tlv(DER.set, digestAlgorithm)
        signed += DER.tlv(DER.sequence, DER.objectIdentifier(Self.pkcs7Data))
        signed += DER.tlv(DER.contextZero, ([certificate] + intermediates).flatMap(\.derBytes))
        signedDataHead = signed
    }

    /// Signs `content` and returns the detached signature as DER.
    /// - Parameter signingTime: the time to state in the signature.
    /// - Throws: `CryptoError.signingFailed`.
    public func sign(_ content: [UInt8], signingTime: Date = Date()) throws -> [UInt8] {
        // Signed attributes, in DER's SET OF order (by encoding: these three sort by length).
        var attributes: [UInt8] = []
        attributes += Self.contentTypeData
        attributes += DER.tlv(DER.sequence, Self.signingTimeAttribute + DER.tlv(DER.set, Self.time(signingTime)))
        attributes += DER.tlv(DER.sequence, Self.messageDigestAttribute + DER.tlv(DER.set, DER.tlv(DER.octetString, Digest.sha256(content))))

        // The signature covers the attributes encoded as a SET (tag 0x31), not as the [0] they are stored under.
        let toSign = DER.tlv(DER.set, attributes)
        let signature = try withContext { try $0.signature(digest: Digest.sha256(toSign)) }

        // Written once into one array, sizes first: the nesting would otherwise copy the
        // certificates (most of the 2.5 KB) once per level.
        let signerInfoLength = signerInfoHead.count + DER.size(content: attributes.count) + signatureAlgorithm.count + DER.size(content: signature.count)
        let signerInfosLength = DER.size(content: signerInfoLength)
        let signedDataLength = signedDataHead.count + DER.size(content: signerInfosLength)
        let explicitLength = DER.size(content: signedDataLength)
        let contentInfoLength = Self.signedDataOID.count + DER.size(content: explicitLength)

        var out: [UInt8] = []
        out.reserveCapacity(DER.size(content: contentInfoLength))
        DER.appendHeader(DER.sequence, length: contentInfoLength, to: &out)
        out += Self.signedDataOID
        DER.appendHeader(DER.contextZero, length: explicitLength, to: &out)
        DER.appendHeader(DER.sequence, length: signedDataLength, to: &out)
        out += signedDataHead
        DER.appendHeader(DER.set, length: signerInfosLength, to: &out)
        DER.appendHeader(DER.sequence, length: signerInfoLength, to: &out)
        out += signerInfoHead
        DER.append(DER.contextZero, attributes, to: &out)
        out += signatureAlgorithm
        DER.append(DER.octetString, signature, to: &out)
        return out
    }

    private func withContext<R>(_ body: (DigestSigner) throws -> R) throws -> R {
        let context = try contexts.withLock { $0.popLast() } ?? key.makeDigestSigner()
        defer { contexts.withLock { $0.append(context) } }
        return try body(context)
    }

    private static func issuerDER(_ certificate: Certificate) throws -> [UInt8] {
        try encode { i2d_X509_NAME(X509_get_issuer_name(certificate.pointer), $0) }
    }

    private static func serialDER(_ certificate: Certificate) throws -> [UInt8] {
        try encode { i2d_ASN1_INTEGER(X509_get0_serialNumber(certificate.pointer), $0) }
    }

    private static func encode(_ i2d: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) throws -> [UInt8] {
        let length = i2d(nil)
        guard length > 0 else { throw CryptoError.openSSL(.signingFailed, "Could not encode the signer's certificate fields.") }
        var out = [UInt8](repeating: 0, count: Int(length))
        out.withUnsafeMutableBufferPointer { buffer in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d(&cursor)
        }
        return out
    }

    /// UTCTime until 2049, GeneralizedTime after, as RFC 5280 has it.
    private static func time(_ date: Date) -> [UInt8] {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let year = Int(parts.tm_year) + 1900
        var text: [UInt8] = []
        text.reserveCapacity(15)
        func digits(_ n: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 { text.append(UInt8(ascii: "0") + UInt8((n / divisor) % 10)); divisor /= 10 }
        }
        if year < 2050 { digits(year % 100, 2) } else { digits(year, 4) }
        for field in [parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec] { digits(Int(field), 2) }
        text.append(UInt8(ascii: "Z"))
        return DER.tlv(year < 2050 ? DER.utcTime : DER.generalizedTime, text)
    }
}
