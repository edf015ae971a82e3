import COpenSSL

/// A private key (RSA or EC).
public final class PrivateKey: @unchecked Sendable {
    // Safe to share: OpenSSL 3 keys are immutable once loaded, and concurrent signing with one
    // key is supported (RSA blinding state is guarded inside OpenSSL).
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    /// Loads a PEM private key (PKCS#8, traditional RSA or EC, encrypted or not).
    /// - Parameters:
    ///   - pem: the file's bytes.
    ///   - passphrase: the passphrase of an encrypted key; `nil` for a plain one.
    /// - Throws: `CryptoError.wrongPassword` when the key is encrypted and the passphrase is
    ///   missing or wrong, `.invalidKey` when the bytes are not a key.
    public convenience init(pem: [UInt8], passphrase: String? = nil) throws {
        OpenSSLErrorQueue.clear()
        let isEncrypted = String(decoding: pem.prefix(4096), as: UTF8.self).contains("ENCRYPTED")
        // Without a passphrase, hand OpenSSL an empty one rather than NULL: NULL makes it
        // prompt on the terminal, which a server must never do.
        let secret = Array((passphrase ?? "").utf8CString)
        let key: OpaquePointer? = try withReadBIO(pem) { bio in
            secret.withUnsafeBufferPointer { buffer in
                PEM_read_bio_PrivateKey(bio, nil, nil, UnsafeMutableRawPointer(mutating: buffer.baseAddress))
            }
        }
        guard let key else {
            if isEncrypted {
                let what = passphrase == nil ? "is encrypted and no passphrase was given" : "does not open with the passphrase given"
                throw CryptoError.openSSL(.wrongPassword, "The private key \(what).")
            }
            throw CryptoError.openSSL(.invalidKey, "The bytes are not a PEM private key (a PEM block of type PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY).")
        }
        self.init(taking: key)
    }

    /// A new RSA key.
    /// - Throws: `CryptoError.generationFailed`.
    public static func generateRSA(bits: Int = 2048) throws -> PrivateKey {
        OpenSSLErrorQueue.clear()
        guard let key = passline_rsa_generate(UInt32(bits)) else {
            throw CryptoError.openSSL(.generationFailed, "Could not generate a \(bits)-bit RSA key.")
        }
        return PrivateKey(taking: key)
    }

    /// A new ECDSA key on P-256 (prime256v1), the curve of Google's callback signatures.
    /// - Throws: `CryptoError.generationFailed`.
    public static func generateP256() throws -> PrivateKey {
        OpenSSLErrorQueue.clear()
        guard let key = passline_ec_generate("P-256") else { throw CryptoError.openSSL(.generationFailed, "Could not generate a P-256 key.") }
        return PrivateKey(taking: key)
    }

    /// The public half as DER (SubjectPublicKeyInfo): what Google's key lists carry, in base64.
    public func publicKeyDER() throws -> [UInt8] {
        let length = i2d_PUBKEY(pointer, nil)
        guard length > 0 else { throw CryptoError.openSSL(.invalidKey, "Could not write the public key as DER.") }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let written = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_PUBKEY(pointer, &cursor)
        }
        guard written == length else { throw CryptoError.openSSL(.invalidKey, "Could not write the public key as DER.") }
        return bytes
    }

    /// The key as unencrypted PKCS#8 PEM.
    public func pemBytes() throws -> [UInt8] {
        try collectingWriteBIO { bio in
            guard PEM_write_bio_PrivateKey(bio, pointer, nil, nil, 0, nil, nil) == 1 else {
                throw CryptoError.openSSL(.invalidKey, "Could not write the private key as PEM.")
            }
        }
    }

    /// The public half as PEM (SubjectPublicKeyInfo, `BEGIN PUBLIC KEY`).
    public func publicKeyPEM() throws -> [UInt8] {
        try collectingWriteBIO { bio in
            guard PEM_write_bio_PUBKEY(bio, pointer) == 1 else {
                throw CryptoError.openSSL(.invalidKey, "Could not write the public key as PEM.")
            }
        }
    }

    /// Whether this is an RSA key (RS256 and Apple's pass signatures need one).
    public var isRSA: Bool { EVP_PKEY_get_base_id(pointer) == EVP_PKEY_RSA }

    /// The key size in bits.
    public var bits: Int { Int(EVP_PKEY_get_bits(pointer)) }

    /// Whether this key is the private half of `certificate`'s public key.
    public func matches(_ certificate: Certificate) -> Bool {
        let ok = X509_check_private_key(certificate.pointer, pointer) == 1
        OpenSSLErrorQueue.clear()
        return ok
    }

    /// Signs `data` with SHA-256 (RSASSA-PKCS1-v1_5 for RSA keys, ECDSA for EC keys).
    /// - Throws: `CryptoError.signingFailed`.
    public func signSHA256(_ data: [UInt8]) throws -> [UInt8] {
        OpenSSLErrorQueue.clear()
        guard let context = EVP_MD_CTX_new() else { throw CryptoError.openSSL(.signingFailed, "Out of memory while signing.") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, pointer) == 1 else {
            throw CryptoError.openSSL(.signingFailed, "The key cannot sign with SHA-256.")
        }
        var length = 0
        let ok = data.withUnsafeBytes { raw -> Bool in
            guard EVP_DigestSign(context, nil, &length, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count) == 1 else { return false }
            return true
        }
        guard ok else { throw CryptoError.openSSL(.signingFailed, "Could not size the signature.") }
        var signature = [UInt8](repeating: 0, count: length)
        let signed = data.withUnsafeBytes { raw in
            EVP_DigestSign(context, &signature, &length, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count)
        }
        guard signed == 1 else { throw CryptoError.openSSL(.signingFailed, "Could not sign.") }
        return Array(signature.prefix(length))
    }

    /// A reusable signer of precomputed SHA-256 digests: the bare private-key operation, with
    /// nothing else around it. Benchmarks use it as the floor that signing work can reach.
    public func makeDigestSigner() throws -> DigestSigner { try DigestSigner(key: self) }
}

/// Signs SHA-256 digests with one key, reusing one OpenSSL context. Not thread-safe: one per thread.
public final class DigestSigner {
    private let key: PrivateKey
    private let context: OpaquePointer
    private var buffer: [UInt8]

    init(key: PrivateKey) throws {
        OpenSSLErrorQueue.clear()
        guard let context = EVP_PKEY_CTX_new(key.pointer, nil) else {
            throw CryptoError.openSSL(.signingFailed, "Out of memory while preparing to sign.")
        }
        guard EVP_PKEY_sign_init(context) == 1, EVP_PKEY_CTX_set_signature_md(context, EVP_sha256()) == 1 else {
            EVP_PKEY_CTX_free(context)
            throw CryptoError.openSSL(.signingFailed, "The key cannot sign SHA-256 digests.")
        }
        if EVP_PKEY_get_base_id(key.pointer) == EVP_PKEY_RSA {
            _ = EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PADDING)
        }
        self.key = key
        self.context = context
        self.buffer = [UInt8](repeating: 0, count: Int(EVP_PKEY_get_size(key.pointer)))
    }

    deinit { EVP_PKEY_CTX_free(context) }

    /// Signs a 32-byte SHA-256 digest and returns the signature's length; the signature
    /// itself is discarded (benchmarks measure the operation).
    @discardableResult
    public func sign(digest: [UInt8]) throws -> Int {
        var length = buffer.count
        let ok = EVP_PKEY_sign(context, &buffer, &length, digest, digest.count)
        guard ok == 1 else { throw CryptoError.openSSL(.signingFailed, "Could not sign the digest.") }
        return length
    }

    /// Signs a 32-byte SHA-256 digest and returns the signature.
    func signature(digest: [UInt8]) throws -> [UInt8] {
        let length = try sign(digest: digest)
        return Array(buffer.prefix(length))
    }
}

// A DigestSigner may move between threads (DetachedSigner pools them), but serves one call at
// a time: its owner guarantees that, as the pool does by handing each one out exclusively.
extension DigestSigner: @unchecked Sendable {}
