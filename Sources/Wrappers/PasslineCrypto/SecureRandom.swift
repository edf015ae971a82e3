import COpenSSL

/// Random bytes and tokens from OpenSSL's CSPRNG.
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        // RAND_bytes fails only when the system has no entropy source at all; nothing can go on then.
        precondition(RAND_bytes(&out, Int32(count)) == 1, "OpenSSL's random generator failed: \(OpenSSLErrorQueue.drain() ?? "")")
        return out
    }

    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A token of `length` characters from [0-9A-Za-z], with no modulo bias: about 5.95 bits a character.
    public static func token(length: Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(length)
        while out.count < length {
            for byte in bytes(length * 2) where byte < 248 && out.count < length { // 248 = 62 * 4
                out.append(alphabet[Int(byte) % 62])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Comparisons whose time does not depend on where the inputs differ.
public enum ConstantTime {
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }
}
