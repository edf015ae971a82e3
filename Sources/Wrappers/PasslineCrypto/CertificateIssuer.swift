import COpenSSL
import Foundation

/// Issues X.509 certificates: development certificate authorities and the certificates they sign.
public enum CertificateIssuer {
    /// What kind of certificate to make.
    public enum Profile: Sendable {
        /// A certificate authority (root or intermediate).
        case authority(pathLength: Int?)
        /// An end-entity signing certificate with the given extended key usages (OIDs or names).
        case signer(extendedKeyUsages: [String], extraExtensions: [(oid: String, value: String)])
        /// A TLS server certificate for these host names and IP addresses (a local stand-in's).
        case tlsServer(hosts: [String])
    }

    /// Issues a certificate for `subjectKey`, signed with SHA-256.
    /// - Parameters:
    ///   - subject: the subject name; attribute names are OpenSSL short names (`CN`, `OU`, `UID`, …).
    ///   - subjectKey: the key whose public half the certificate carries.
    ///   - issuer: the issuing certificate and its key; `nil` makes a self-signed certificate.
    ///   - validFrom: start of validity.
    ///   - validUntil: end of validity.
    ///   - profile: authority or signer.
    /// - Throws: `CryptoError.generationFailed` naming the step that failed.
    public static func issue(
        subject: DistinguishedName,
        subjectKey: PrivateKey,
        issuer: (certificate: Certificate, key: PrivateKey)?,
        validFrom: Date,
        validUntil: Date,
        profile: Profile
    ) throws -> Certificate {
        OpenSSLErrorQueue.clear()
        guard let x509 = X509_new() else { throw CryptoError.openSSL(.generationFailed, "Out of memory.") }
        let certificate = Certificate(taking: x509)
        func fail(_ step: String) -> CryptoError { CryptoError.openSSL(.generationFailed, "Could not \(step).") }

        guard X509_set_version(x509, 2) == 1 else { throw fail("set the certificate version") }
        var serial = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&serial, 16) == 1 else { throw fail("draw a serial number") }
        serial[0] &= 0x7f
        guard let bn = BN_bin2bn(serial, 16, nil) else { throw fail("make a serial number") }
        defer { BN_free(bn) }
        guard BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x509)) != nil else { throw fail("set the serial number") }

        guard X509_time_adj_ex(X509_getm_notBefore(x509), 0, Int(validFrom.timeIntervalSince1970) - Int(Date().timeIntervalSince1970), nil) != nil,
              X509_time_adj_ex(X509_getm_notAfter(x509), 0, Int(validUntil.timeIntervalSince1970) - Int(Date().timeIntervalSince1970), nil) != nil
        else { throw fail("set the validity period") }

        guard let name = X509_get_subject_name(x509) else { throw fail("read the subject name") }
        for (attribute, value) in subject.attributes {
            guard X509_NAME_add_entry_by_txt(name, attribute, MBSTRING_UTF8, value, -1, -1, 0) == 1 else {
                throw fail("add \(attribute)=\(value) to the subject")
            }
        }
        let issuerCertificate = issuer?.certificate ?? certificate
        guard X509_set_issuer_name(x509, X509_get_subject_name(issuerCertificate.pointer)) == 1 else { throw fail("set the issuer name") }
        guard X509_set_pubkey(x509, subjectKey.pointer) == 1 else { throw fail("set the public key") }

        var context = X509V3_CTX()
        passline_X509V3_set_ctx_nodb(&context)
        X509V3_set_ctx(&context, issuerCertificate.pointer, x509, nil, nil, 0)
        func add(_ nid: Int32, _ value: String) throws {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else { throw fail("make extension \(value)") }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x509, ext, -1) == 1 else { throw fail("add extension \(value)") }
        }
        switch profile {
        case .authority(let pathLength):
            try add(NID_basic_constraints, "critical,CA:TRUE" + (pathLength.map { ",pathlen:\($0)" } ?? ""))
            try add(NID_key_usage, "critical,keyCertSign,cRLSign")
        case .tlsServer(let hosts):
            try add(NID_basic_constraints, "critical,CA:FALSE")
            try add(NID_key_usage, "critical,digitalSignature,keyEncipherment")
            try add(NID_ext_key_usage, "serverAuth")
            let names = hosts.map { host in host.allSatisfy({ $0.isNumber || $0 == "." || $0 == ":" }) ? "IP:\(host)" : "DNS:\(host)" }
            try add(NID_subject_alt_name, names.joined(separator: ","))
        case .signer(let usages, let extra):
            try add(NID_basic_constraints, "critical,CA:FALSE")
            try add(NID_key_usage, "critical,digitalSignature")
            if !usages.isEmpty { try add(NID_ext_key_usage, usages.joined(separator: ",")) }
            for (oid, value) in extra {
                guard let object = OBJ_txt2obj(oid, 1) else { throw fail("parse OID \(oid)") }
                defer { ASN1_OBJECT_free(object) }
                guard let data = ASN1_OCTET_STRING_new() else { throw fail("allocate extension \(oid)") }
                defer { ASN1_OCTET_STRING_free(data) }
                _ = ASN1_OCTET_STRING_set(data, value, Int32(value.utf8.count))
                guard let ext = X509_EXTENSION_create_by_OBJ(nil, object, 0, data) else { throw fail("make extension \(oid)") }
                defer { X509_EXTENSION_free(ext) }
                guard X509_add_ext(x509, ext, -1) == 1 else { throw fail("add extension \(oid)") }
            }
        }
        try add(NID_subject_key_identifier, "hash")
        if issuer != nil { try add(NID_authority_key_identifier, "keyid:always") }

        guard X509_sign(x509, (issuer?.key ?? subjectKey).pointer, EVP_sha256()) > 0 else { throw fail("sign the certificate") }
        return certificate
    }
}
