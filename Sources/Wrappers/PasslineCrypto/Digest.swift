import COpenSSL

/// Message digests through OpenSSL's EVP interface.
public enum Digest {
    /// SHA-1, which Apple's pass manifest requires for every file hash.
    public static func sha1(_ bytes: [UInt8]) -> [UInt8] { compute(Algorithms.sha1, bytes, length: 20) }

    /// SHA-256.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { compute(Algorithms.sha256, bytes, length: 32) }

    /// The algorithms fetched from OpenSSL's default provider once. `EVP_sha1()` and friends are
    /// placeholders that OpenSSL 3 looks up again in its provider store (name lookup, locks,
    /// reference counts) on every use, which cost more than hashing a pass.json.
    private enum Algorithms {
        nonisolated(unsafe) static let sha1: OpaquePointer? = fetch("SHA1") ?? EVP_sha1()
        nonisolated(unsafe) static let sha256: OpaquePointer? = fetch("SHA256") ?? EVP_sha256()

        // A fetched EVP_MD is immutable and safe to share between threads; it is never freed.
        private static func fetch(_ name: String) -> OpaquePointer? { EVP_MD_fetch(nil, name, nil) }
    }

    /// Lower-case hexadecimal, the form `manifest.json` uses.
    public static func hex(_ digest: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func compute(_ md: OpaquePointer?, _ bytes: [UInt8], length: Int) -> [UInt8] {
        var ok: Int32 = 0
        let out = [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            var written: UInt32 = 0
            ok = bytes.withUnsafeBytes { raw in EVP_Digest(raw.baseAddress, raw.count, buffer.baseAddress, &written, md, nil) }
            count = ok == 1 ? Int(written) : 0
        }
        // EVP_Digest with a built-in algorithm fails only when memory runs out.
        precondition(ok == 1 && out.count == length, "OpenSSL digest failed: \(OpenSSLErrorQueue.drain() ?? "unknown")")
        return out
    }
}
