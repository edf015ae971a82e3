import COpenSSL

/// A public key, to check signatures made elsewhere (a JWT's RS256 signature, say).
public final class PublicKey: @unchecked Sendable {
    // Safe to share: an OpenSSL 3 key is immutable once loaded.
    let pointer: OpaquePointer

    deinit { EVP_PKEY_free(pointer) }

    /// Loads a PEM public key (`BEGIN PUBLIC KEY`).
    /// - Throws: `CryptoError.invalidKey` when the bytes are not one.
    public init(pem: [UInt8]) throws {
        OpenSSLErrorQueue.clear()
        let key: OpaquePointer? = try withReadBIO(pem) { bio in PEM_read_bio_PUBKEY(bio, nil, nil, nil) }
        guard let key else { throw CryptoError.openSSL(.invalidKey, "The bytes are not a PEM public key (a PEM block of type PUBLIC KEY).") }
        pointer = key
    }

    /// Loads a DER SubjectPublicKeyInfo (what Google's signing-key lists carry, in base64).
    /// - Throws: `CryptoError.invalidKey` when the bytes are not one, or have bytes after it.
    public init(der: [UInt8]) throws {
        OpenSSLErrorQueue.clear()
        var consumed = 0
        let key: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            guard let start = buffer.baseAddress, buffer.count > 0, buffer.count <= Int(Int32.max) else { return nil }
            var cursor: UnsafePointer<UInt8>? = start
            let key = d2i_PUBKEY(nil, &cursor, buffer.count)
            consumed = cursor.map { $0 - start } ?? 0
            return key
        }
        guard let key else { throw CryptoError.openSSL(.invalidKey, "The bytes are not a DER public key (SubjectPublicKeyInfo).") }
        guard consumed == der.count else {
            EVP_PKEY_free(key)
            throw CryptoError.openSSL(.invalidKey, "The DER public key has \(der.count - consumed) bytes after its end.")
        }
        pointer = key
    }

    /// Whether this is an EC key on P-256.
    public var isP256: Bool { EVP_PKEY_get_base_id(pointer) == EVP_PKEY_EC && EVP_PKEY_get_bits(pointer) == 256 }

    /// Whether `signature` is this key's SHA-256 signature of `data` (RSASSA-PKCS1-v1_5 or ECDSA).
    public func verifySHA256(_ data: [UInt8], signature: [UInt8]) -> Bool {
        defer { OpenSSLErrorQueue.clear() }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, pointer) == 1 else { return false }
        return data.withUnsafeBytes { raw in
            EVP_DigestVerify(context, signature, signature.count, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count) == 1
        }
    }
}
