import COpenSSL
import Foundation

/// A distinguished name as an ordered list of attributes, by OpenSSL short name (`CN`, `OU`, `UID`, …).
public struct DistinguishedName: Sendable, Equatable, CustomStringConvertible {
    public var attributes: [(name: String, value: String)]

    public init(_ attributes: [(name: String, value: String)]) { self.attributes = attributes }

    /// The first value of an attribute, if present.
    public subscript(_ name: String) -> String? { attributes.first { $0.name == name }?.value }

    public var commonName: String? { self["CN"] }
    public var organizationalUnit: String? { self["OU"] }
    /// The `UID` attribute: on an Apple Pass Type ID certificate, the pass type identifier.
    public var userID: String? { self["UID"] }

    public var description: String { attributes.map { "\($0.name)=\($0.value)" }.joined(separator: ", ") }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.attributes.map { [$0.name, $0.value] } == rhs.attributes.map { [$0.name, $0.value] }
    }
}

/// An X.509 certificate.
public final class Certificate: @unchecked Sendable {
    // Safe to share: the X509 is never mutated after init, and OpenSSL 3 guards the fields it
    // caches lazily (extensions, hashes) with its own lock.
    let pointer: OpaquePointer

    /// Takes ownership of one reference to `pointer`.
    init(taking pointer: OpaquePointer) { self.pointer = pointer }

    /// Adds a reference to a certificate that someone else owns (for example one inside a PKCS#7).
    init(borrowing pointer: OpaquePointer) {
        X509_up_ref(pointer)
        self.pointer = pointer
    }

    deinit { X509_free(pointer) }

    /// Every certificate in a PEM file, in order.
    /// - Throws: `CryptoError.invalidCertificate` when there is none, or one does not parse.
    public static func loadPEM(_ bytes: [UInt8]) throws -> [Certificate] {
        OpenSSLErrorQueue.clear()
        return try withReadBIO(bytes) { bio in
            var result: [Certificate] = []
            while let x509 = PEM_read_bio_X509(bio, nil, nil, nil) {
                result.append(Certificate(taking: x509))
            }
            // The loop ends on "no start line" once the input is used up; anything else is damage.
            let leftover = ERR_peek_last_error()
            OpenSSLErrorQueue.clear()
            if result.isEmpty {
                throw CryptoError(.invalidCertificate, "No PEM certificate (-----BEGIN CERTIFICATE-----) was found.")
            }
            if leftover != 0 && ERR_GET_REASON(leftover) != PEM_R_NO_START_LINE {
                throw CryptoError(.invalidCertificate, "A PEM certificate is damaged after the first \(result.count).")
            }
            return result
        }
    }

    /// One certificate from DER bytes.
    public convenience init(der: [UInt8]) throws {
        OpenSSLErrorQueue.clear()
        let x509: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let x509 else { throw CryptoError.openSSL(.invalidCertificate, "The bytes are not a DER certificate.") }
        self.init(taking: x509)
    }

    /// The certificate as DER.
    public var derBytes: [UInt8] {
        let length = i2d_X509(pointer, nil)
        guard length > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: Int(length))
        out.withUnsafeMutableBufferPointer { buffer in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d_X509(pointer, &cursor)
        }
        return out
    }

    /// The certificate as PEM text.
    public var pemBytes: [UInt8] {
        (try? collectingWriteBIO { bio in _ = PEM_write_bio_X509(bio, pointer) }) ?? []
    }

    public var subject: DistinguishedName { Self.name(X509_get_subject_name(pointer)) }
    public var issuer: DistinguishedName { Self.name(X509_get_issuer_name(pointer)) }

    public var notBefore: Date { Self.date(X509_get0_notBefore(pointer)) }
    public var notAfter: Date { Self.date(X509_get0_notAfter(pointer)) }

    /// Whether this is a CA certificate (basicConstraints CA:TRUE).
    public var isCertificateAuthority: Bool { X509_check_ca(pointer) >= 1 }

    /// SHA-256 of the DER form, as hex: a stable name for a certificate in messages and logs.
    public var fingerprintSHA256: String { Digest.hex(Digest.sha256(derBytes)) }

    /// Whether `issuer` names this certificate's issuer and its key made this certificate's signature.
    public func isIssued(by issuer: Certificate) -> Bool {
        guard X509_check_issued(issuer.pointer, pointer) == X509_V_OK else { return false }
        guard let key = X509_get0_pubkey(issuer.pointer) else { return false }
        let ok = X509_verify(pointer, key) == 1
        OpenSSLErrorQueue.clear()
        return ok
    }

    /// Whether both are the same certificate, byte for byte.
    public func isSame(as other: Certificate) -> Bool { X509_cmp(pointer, other.pointer) == 0 }

    static func name(_ name: OpaquePointer?) -> DistinguishedName {
        guard let name else { return DistinguishedName([]) }
        var attributes: [(name: String, value: String)] = []
        for index in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, index),
                  let object = X509_NAME_ENTRY_get_object(entry),
                  let data = X509_NAME_ENTRY_get_data(entry) else { continue }
            let nid = OBJ_obj2nid(object)
            let short = nid == NID_undef ? "?" : String(cString: OBJ_nid2sn(nid))
            var utf8: UnsafeMutablePointer<UInt8>?
            let length = ASN1_STRING_to_UTF8(&utf8, data)
            guard length >= 0, let utf8 else { continue }
            let value = String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
            passline_OPENSSL_free(utf8)
            attributes.append((short, value))
        }
        return DistinguishedName(attributes)
    }

    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        var seconds: time_t = 0
        guard passline_ASN1_TIME_to_unix(time, &seconds) == 1 else { return Date(timeIntervalSince1970: 0) }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}
