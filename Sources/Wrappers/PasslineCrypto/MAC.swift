import COpenSSL

/// Message authentication codes through OpenSSL's EVP_MAC interface.
public enum MAC {
    /// HMAC-SHA256 of `message` under `key` (32 bytes).
    public static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var written = 0
        let out = [UInt8](unsafeUninitializedCapacity: 32) { buffer, count in
            let result = key.withUnsafeBytes { keyBytes in
                message.withUnsafeBytes { data in
                    // An empty key is still a key: OpenSSL wants a non-null pointer for it.
                    EVP_Q_mac(nil, "HMAC", nil, "SHA256", nil, keyBytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), keyBytes.count,
                              data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, buffer.baseAddress, 32, &written)
                }
            }
            count = result == nil ? 0 : written
        }
        // HMAC with a built-in digest fails only when memory runs out.
        precondition(out.count == 32, "OpenSSL HMAC failed: \(OpenSSLErrorQueue.drain() ?? "unknown")")
        return out
    }
}
