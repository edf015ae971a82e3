import Foundation

/// An `application/x-www-form-urlencoded` body or query, read with limits: a form never has
/// more than a few fields, so anything larger is refused rather than parsed.
struct WebForm: Sendable {
    private(set) var fields: [String: String] = [:]
    /// Every value of each name, in order (checkboxes repeat a name).
    private(set) var lists: [String: [String]] = [:]

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
            lists[name, default: []].append(value)
        }
    }

    subscript(_ name: String) -> String? { fields[name] }

    /// Every value sent under `name`.
    func all(_ name: String) -> [String] { lists[name] ?? [] }

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

/// A `multipart/form-data` body (a form with a file), parsed with limits: fields and files by
/// name, the first of each name winning.
struct MultipartForm: Sendable {
    var fields: [String: String] = [:]
    var files: [String: (filename: String, bytes: [UInt8])] = [:]

    /// nil when the body is not multipart with the boundary the content type names.
    init?(body: [UInt8], contentType: String) {
        guard contentType.lowercased().hasPrefix("multipart/form-data"),
              let boundaryRange = contentType.range(of: "boundary=") else { return nil }
        var boundary = String(contentType[boundaryRange.upperBound...].prefix { $0 != ";" })
        if boundary.hasPrefix("\""), boundary.hasSuffix("\""), boundary.count >= 2 { boundary = String(boundary.dropFirst().dropLast()) }
        guard !boundary.isEmpty, boundary.count <= 200 else { return nil }
        let delimiter = Array("--\(boundary)".utf8)
        var parts: [ArraySlice<UInt8>] = []
        var start: Int? = nil
        var index = 0
        while let found = Self.find(delimiter, in: body, from: index) {
            if let start { parts.append(body[start..<max(start, found - 2)]) }  // less the CRLF before the delimiter
            index = found + delimiter.count
            if body.count >= index + 2, body[index] == UInt8(ascii: "-"), body[index + 1] == UInt8(ascii: "-") { break }
            index += 2  // CRLF after the delimiter
            start = index
            guard parts.count <= WebForm.maxFields else { return nil }
        }
        for part in parts {
            guard let split = Self.find(Array("\r\n\r\n".utf8), in: Array(part), from: 0) else { continue }
            let bytes = Array(part)
            let head = String(decoding: bytes[..<split], as: UTF8.self)
            let content = Array(bytes[(split + 4)...])
            guard let disposition = head.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-disposition:") }),
                  let name = Self.parameter("name", in: disposition) else { continue }
            if let filename = Self.parameter("filename", in: disposition) {
                if files[name] == nil { files[name] = (filename, content) }
            } else if fields[name] == nil {
                fields[name] = String(decoding: content, as: UTF8.self)
            }
        }
    }

    private static func parameter(_ key: String, in header: Substring) -> String? {
        guard let range = header.range(of: "\(key)=\"") else { return nil }
        // `name` must not match inside `filename`.
        if key == "name", range.lowerBound > header.startIndex, header[header.index(before: range.lowerBound)] != " " && header[header.index(before: range.lowerBound)] != ";" {
            let rest = header[range.upperBound...]
            return parameter(key, in: rest)
        }
        return String(header[range.upperBound...].prefix { $0 != "\"" })
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0] && haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
