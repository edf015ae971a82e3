import COpenSSL

/// Message digests through OpenSSL's EVP interface.
public enum Digest {
    /// SHA-1, which Apple's pass manifest requires for every file hash.
    public static func sha1(_ bytes: [UInt8]) -> [UInt8] { compute(EVP_sha1(), bytes, length: 20) }

    /// SHA-256.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { compute(EVP_sha256(), bytes, length: 32) }

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
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var written: UInt32 = 0
        let ok = bytes.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &out, &written, md, nil)
        }
        // EVP_Digest with a built-in algorithm fails only when memory runs out.
        precondition(ok == 1 && Int(written) == length, "OpenSSL digest failed: \(OpenSSLErrorQueue.drain() ?? "unknown")")
        return Array(out.prefix(length))
    }
}
