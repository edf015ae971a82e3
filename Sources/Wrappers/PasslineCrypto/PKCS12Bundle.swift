import COpenSSL

/// The contents of a PKCS#12 (.p12) file: a key, its certificate, and any extra certificates.
public struct PKCS12Bundle: Sendable {
    public let key: PrivateKey
    public let certificate: Certificate
    public let extraCertificates: [Certificate]

    /// Opens a PKCS#12 file.
    /// - Parameters:
    ///   - der: the file's bytes.
    ///   - password: its password (an empty string for none).
    /// - Throws: `CryptoError.wrongPassword` when the password does not open it, `.invalidKey`
    ///   when the bytes are not PKCS#12 or hold no key and certificate.
    public init(der: [UInt8], password: String) throws {
        OpenSSLErrorQueue.clear()
        let p12: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PKCS12(nil, &cursor, buffer.count)
        }
        guard let p12 else { throw CryptoError.openSSL(.invalidKey, "The bytes are not a PKCS#12 (.p12) file.") }
        defer { PKCS12_free(p12) }

        guard PKCS12_verify_mac(p12, password, Int32(password.utf8.count)) == 1 else {
            OpenSSLErrorQueue.clear()
            throw CryptoError(.wrongPassword, "The password does not open the PKCS#12 file.")
        }
        var parsed = Self.parse(p12, password)
        if parsed == nil {
            // Keychain exports still encrypt with RC2 or 3DES, which OpenSSL 3 keeps in its
            // legacy provider; load it once and try again before giving up.
            OpenSSLErrorQueue.clear()
            LegacyProvider.load()
            parsed = Self.parse(p12, password)
        }
        guard let (key, certificate, extra) = parsed else {
            throw CryptoError.openSSL(.invalidKey, "The PKCS#12 file opened but its key or certificate could not be read.")
        }
        self.key = key
        self.certificate = certificate
        self.extraCertificates = extra
    }

    private static func parse(_ p12: OpaquePointer, _ password: String) -> (PrivateKey, Certificate, [Certificate])? {
        var key: OpaquePointer?
        var certificate: OpaquePointer?
        var chain: OpaquePointer?
        guard PKCS12_parse(p12, password, &key, &certificate, &chain) == 1 else { return nil }
        defer { if let chain { passline_sk_X509_pop_free(chain) } }
        guard let key, let certificate else {
            if let key { EVP_PKEY_free(key) }
            if let certificate { X509_free(certificate) }
            return nil
        }
        var extra: [Certificate] = []
        for index in 0..<passline_sk_X509_num(chain) {
            if let x509 = passline_sk_X509_value(chain, index) { extra.append(Certificate(borrowing: x509)) }
        }
        return (PrivateKey(taking: key), Certificate(taking: certificate), extra)
    }
}

private enum LegacyProvider {
    static let loaded: Bool = {
        // Loading "legacy" by name replaces the implicit default provider: load both.
        _ = OSSL_PROVIDER_load(nil, "default")
        return OSSL_PROVIDER_load(nil, "legacy") != nil
    }()
    static func load() { _ = loaded }
}
