import COpenSSL

/// Encrypts secrets at rest (private keys, service-account keys, webhook secrets) with the
/// master key: AES-256-GCM, a fresh 96-bit nonce per secret, and a context string bound in as
/// associated data, so a secret copied to another row or column does not open there.
///
/// Sealed form: version byte 1, nonce (12 bytes), ciphertext, tag (16 bytes).
public struct SecretBox: Sendable {
    private let key: [UInt8]

    /// - Throws: `CryptoError.invalidKey` unless the key is 32 bytes.
    public init(key: [UInt8]) throws {
        guard key.count == 32 else { throw CryptoError(.invalidKey, "The master key must be 32 bytes; this one is \(key.count).") }
        self.key = key
    }

    /// A new random master key.
    public static func generateKey() -> [UInt8] { SecureRandom.bytes(32) }

    /// Encrypts `plaintext`, bound to `context` (e.g. "signing_identities.private_key:<tenant id>").
    public func seal(_ plaintext: [UInt8], context: String) throws -> [UInt8] {
        let nonce = SecureRandom.bytes(12)
        let (ciphertext, tag) = try crypt(encrypt: true, nonce: nonce, input: plaintext, aad: Array(context.utf8), tag: nil)
        return [1] + nonce + ciphertext + tag
    }

    /// Decrypts what `seal` made with the same key and context.
    /// - Throws: `CryptoError.invalidKey` when the box was sealed with another key or context,
    ///   or was altered; it never returns altered data.
    public func open(_ sealed: [UInt8], context: String) throws -> [UInt8] {
        guard sealed.count >= 1 + 12 + 16, sealed[0] == 1 else {
            throw CryptoError(.invalidKey, "The sealed secret is damaged or of an unknown version.")
        }
        let nonce = Array(sealed[1..<13]), tag = Array(sealed.suffix(16)), body = Array(sealed[13..<(sealed.count - 16)])
        return try crypt(encrypt: false, nonce: nonce, input: body, aad: Array(context.utf8), tag: tag).output
    }

    private func crypt(encrypt: Bool, nonce: [UInt8], input: [UInt8], aad: [UInt8], tag: [UInt8]?) throws -> (output: [UInt8], tag: [UInt8]) {
        OpenSSLErrorQueue.clear()
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoError.openSSL(.invalidKey, "Out of memory.") }
        defer { EVP_CIPHER_CTX_free(context) }
        let initialise = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex
        guard initialise(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, 12, nil) == 1,
              initialise(context, nil, nil, key, nonce) == 1 else {
            throw CryptoError.openSSL(.invalidKey, "Could not set up AES-256-GCM.")
        }
        var length: Int32 = 0
        if !aad.isEmpty {
            let update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate
            guard update(context, nil, &length, aad, Int32(aad.count)) == 1 else { throw CryptoError.openSSL(.invalidKey, "Could not bind the context.") }
        }
        var output = [UInt8](repeating: 0, count: input.count + 16)
        var written: Int32 = 0
        if !input.isEmpty {
            let update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate
            guard update(context, &output, &written, input, Int32(input.count)) == 1 else { throw CryptoError.openSSL(.invalidKey, "AES-256-GCM failed.") }
        }
        if encrypt {
            var final: Int32 = 0
            guard output.withUnsafeMutableBufferPointer({ EVP_EncryptFinal_ex(context, $0.baseAddress! + Int(written), &final) }) == 1 else {
                throw CryptoError.openSSL(.invalidKey, "AES-256-GCM failed.")
            }
            var tag = [UInt8](repeating: 0, count: 16)
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, &tag) == 1 else { throw CryptoError.openSSL(.invalidKey, "Could not read the tag.") }
            return (Array(output.prefix(Int(written + final))), tag)
        }
        var expected = tag!
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, &expected) == 1 else { throw CryptoError.openSSL(.invalidKey, "Could not set the tag.") }
        var final: Int32 = 0
        let ok = output.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(context, $0.baseAddress! + Int(written), &final) }
        OpenSSLErrorQueue.clear()
        guard ok == 1 else {
            throw CryptoError(.invalidKey, "The sealed secret does not open: wrong master key, wrong context, or altered data.")
        }
        return (Array(output.prefix(Int(written + final))), [])
    }
}

/// API keys: `pl_live_…` / `pl_test_…`, shown once, stored as SHA-256 hashes.
public enum APIKey {
    /// A new key for a mode ("live" or "test"): the prefix and 32 random characters (~190 bits).
    public static func generate(mode: String) -> String { "pl_\(mode)_" + SecureRandom.token(length: 32) }

    /// What the store keeps: a key is random enough that a plain SHA-256 is a safe verifier.
    public static func hash(_ key: String) -> [UInt8] { Digest.sha256(Array(key.utf8)) }

    /// The part that may be shown again to identify a key (`pl_live_Ab3d…`).
    public static func displayPrefix(_ key: String) -> String { String(key.prefix(12)) }

    /// The key's mode, when it is well-formed.
    public static func mode(of key: String) -> String? {
        if key.hasPrefix("pl_live_") { return "live" }
        if key.hasPrefix("pl_test_") { return "test" }
        return nil
    }
}
