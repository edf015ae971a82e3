import PasslineCrypto
import PasslineJSON

/// JSON Web Tokens signed RS256, the one kind Google takes from a service account.
public enum JWT {
    /// `header.claims.signature`, each part base64url without padding.
    /// - Throws: `CryptoError.signingFailed`.
    public static func signRS256(claims: JSONObject, key: PrivateKey, keyID: String?) throws -> String {
        var header = JSONObject([("alg", .string("RS256")), ("typ", .string("JWT"))])
        if let keyID { header["kid"] = .string(keyID) }
        let input = Base64URL.encode(JSONWriter.bytes(.object(header))) + "." + Base64URL.encode(JSONWriter.bytes(.object(claims)))
        return input + "." + Base64URL.encode(try key.signSHA256(Array(input.utf8)))
    }

    /// A token's parts, its signature checked with `key`.
    public struct Verified: Sendable {
        public let header: JSONObject
        public let claims: JSONObject
    }

    /// Checks an RS256 token's signature and returns its header and claims.
    /// - Throws: `GoogleWalletError.invalidConfiguration` naming what is wrong.
    public static func verifyRS256(_ token: String, key: PublicKey) throws -> Verified {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw GoogleWalletError(.invalidConfiguration, "A JWT has three dot-separated parts; this one has \(parts.count).") }
        guard let headerBytes = Base64URL.decode(String(parts[0])), case .object(let header)? = try? JSONParser.parse(headerBytes) else {
            throw GoogleWalletError(.invalidConfiguration, "The JWT's header is not base64url JSON.")
        }
        guard header["alg"]?.stringValue == "RS256" else { throw GoogleWalletError(.invalidConfiguration, "The JWT's alg is not RS256.") }
        guard let claimBytes = Base64URL.decode(String(parts[1])), case .object(let claims)? = try? JSONParser.parse(claimBytes) else {
            throw GoogleWalletError(.invalidConfiguration, "The JWT's claims are not base64url JSON.")
        }
        guard let signature = Base64URL.decode(String(parts[2])),
              key.verifySHA256(Array("\(parts[0]).\(parts[1])".utf8), signature: signature) else {
            throw GoogleWalletError(.invalidConfiguration, "The JWT's signature does not verify with the service account's public key.")
        }
        return Verified(header: header, claims: claims)
    }
}

/// Base64 with the URL-safe alphabet and no padding (RFC 4648 §5), as JWTs use it.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let n = UInt32(bytes[index]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil when `text` holds a character outside the alphabet or has an impossible length.
    public static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(byte - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(byte - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "_"): values.append(63)
            default: return nil
            }
        }
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 3 / 4)
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var n: UInt32 = 0
            for value in chunk { n = n << 6 | UInt32(value) }
            n <<= UInt32(6 * (4 - chunk.count))
            let produced = chunk.count - 1
            for shift in [16, 8, 0].prefix(produced) { out.append(UInt8(n >> UInt32(shift) & 0xff)) }
            index += 4
        }
        return out
    }
}

/// Standard base64 (RFC 4648 §4, `+/` and padding), as Google's signing keys and signatures
/// spell it, over the URL-safe codec.
public enum Base64Standard {
    public static func encode(_ bytes: [UInt8]) -> String {
        let url = Base64URL.encode(bytes).map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 }
        return String(url) + String(repeating: "=", count: (4 - url.count % 4) % 4)
    }

    /// nil for anything but standard base64 (padding optional, no whitespace).
    public static func decode(_ text: String) -> [UInt8]? {
        var body = Substring(text)
        while body.hasSuffix("=") { body = body.dropLast() }
        guard text.count - body.count <= 2, !body.contains("-"), !body.contains("_") else { return nil }
        return Base64URL.decode(String(body.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 }))
    }
}
