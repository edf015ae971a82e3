import Foundation

/// An `application/x-www-form-urlencoded` body or query, read with limits: a form never has
/// more than a few fields, so anything larger is refused rather than parsed.
struct WebForm: Sendable {
    private(set) var fields: [String: String] = [:]

    static let maxBytes = 16 * 1024
    static let maxFields = 64

    init(fields: [String: String]) { self.fields = fields }

    /// nil when the text is not a form (too many fields, bad percent-encoding, invalid UTF-8).
    init?(encoded text: Substring) {
        let pairs = text.split(separator: "&", omittingEmptySubsequences: true)
        guard pairs.count <= Self.maxFields else { return nil }
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), let value = Self.decode(parts.count > 1 ? parts[1] : "") else { return nil }
            // The first value of a repeated name wins: a second cannot override a hidden field.
            if fields[name] == nil { fields[name] = value }
        }
    }

    subscript(_ name: String) -> String? { fields[name] }

    /// A field's value trimmed of surrounding white space; nil when missing or empty.
    func text(_ name: String) -> String? {
        guard let value = fields[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    private static func decode(_ part: Substring) -> String? {
        let spaced = part.replacingOccurrences(of: "+", with: " ")
        guard let decoded = spaced.removingPercentEncoding, !decoded.unicodeScalars.contains(where: { $0.value == 0 }) else { return nil }
        return decoded
    }
}

/// The cookies a request carries.
enum Cookies {
    static func value(_ name: String, in header: String?) -> String? {
        guard let header else { return nil }
        for pair in header.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name { return parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax (the invitation link arrives from another
    /// site), Secure when the app is served over https, scoped to the app's path.
    static func set(_ name: String, _ value: String, maxAge: Int?, secure: Bool) -> String {
        var parts = ["\(name)=\(value)", "Path=/app", "HttpOnly", "SameSite=Lax"]
        if let maxAge { parts.append("Max-Age=\(maxAge)") }
        if secure { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }
}

/// Money as staff type it: "12", "12.5", "12,50" in major units, to minor units.
enum MoneyInput {
    /// nil when the text is not an amount with at most `minorDigits` decimals, or is too large.
    static func minorUnits(_ text: String, minorDigits: Int) -> Int64? {
        let normalized = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ",", with: ".")
        let parts = normalized.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 13, whole.allSatisfy(\.isASCII), whole.allSatisfy(\.isNumber) else { return nil }
        var fraction = parts.count > 1 ? String(parts[1]) : ""
        guard fraction.count <= minorDigits, fraction.allSatisfy({ $0.isASCII && $0.isNumber }), parts.count == 1 || !fraction.isEmpty else { return nil }
        fraction += String(repeating: "0", count: minorDigits - fraction.count)
        guard let major = Int64(whole), let minor = Int64(fraction.isEmpty ? "0" : fraction) else { return nil }
        var scale: Int64 = 1
        for _ in 0..<minorDigits { scale *= 10 }
        let (scaled, overflow) = major.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        let (sum, overflow2) = scaled.addingReportingOverflow(minor)
        return overflow2 ? nil : sum
    }

    static func format(_ minor: Int64, minorDigits: Int, code: String) -> String {
        guard minorDigits > 0 else { return "\(minor) \(code)" }
        var scale: Int64 = 1
        for _ in 0..<minorDigits { scale *= 10 }
        let fraction = String(minor % scale)
        return "\(minor / scale).\(String(repeating: "0", count: minorDigits - fraction.count))\(fraction) \(code)"
    }
}
