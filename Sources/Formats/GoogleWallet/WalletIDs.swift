/// Google's resource ids are `<issuer id>.<suffix>`, the suffix of letters, digits, `.`, `_`
/// and `-` only, unique among the issuer's classes (or objects).
public enum WalletIDs {
    /// An issuer id is the number Google's Pay & Wallet console shows.
    /// - Throws: `GoogleWalletError.invalidConfiguration` for anything else.
    public static func checkIssuer(_ issuer: String) throws {
        guard !issuer.isEmpty, issuer.count <= 30, issuer.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            throw GoogleWalletError(.invalidConfiguration, "The issuer id \"\(issuer)\" is not a Google Wallet issuer id: that is the number shown in the Google Pay & Wallet console (for example 3388000000012345678).")
        }
    }

    /// The suffix for a name: itself when it only holds letters, digits, `_` and `-`; otherwise
    /// `.x` and its UTF-8 in hex. A plain suffix never contains a dot, so the two never collide.
    public static func suffix(_ name: String) -> String {
        let plain = !name.isEmpty && name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        if plain { return name }
        let digits = Array("0123456789abcdef".utf8)
        var out = Array(".x".utf8)
        for byte in name.utf8 { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }

    public static func classID(issuer: String, template: String) -> String { "\(issuer).\(suffix(template))" }
    public static func objectID(issuer: String, serial: String) -> String { "\(issuer).\(suffix(serial))" }

    /// Whether `id` is a well-formed resource id of `issuer`.
    public static func isValid(_ id: String, issuer: String) -> Bool {
        guard id.hasPrefix(issuer + "."), id.count > issuer.count + 1 else { return false }
        return id.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
    }
}
