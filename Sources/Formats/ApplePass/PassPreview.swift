import Foundation
import PasslineJSON
import PasslineZip

/// What a built pass shows, read back from the pass itself so that a web preview can never
/// disagree with what Wallet displays: its colours, texts, fields (localized) and barcode.
public struct PassPreview: Sendable {
    public struct Field: Sendable, Equatable {
        public let key: String
        public let label: String?
        public let value: String
    }

    public struct Barcode: Sendable, Equatable {
        /// `PKBarcodeFormatQR`, `PKBarcodeFormatPDF417`, …
        public let format: String
        public let message: String
        public let altText: String?
    }

    /// A colour as Wallet reads it (`rgb(r, g, b)`), as components so that nothing of the
    /// template's text reaches a style sheet.
    public struct Color: Sendable, Equatable {
        public let red: Int, green: Int, blue: Int
        public var css: String { "rgb(\(red), \(green), \(blue))" }
    }

    public let style: String
    public let organizationName: String
    public let description: String
    public let logoText: String?
    public let foregroundColor: Color?
    public let backgroundColor: Color?
    public let labelColor: Color?
    public let headerFields: [Field]
    public let primaryFields: [Field]
    public let secondaryFields: [Field]
    public let auxiliaryFields: [Field]
    public let backFields: [Field]
    public let barcode: Barcode?
    public let voided: Bool
    /// The language whose strings were used (nil when the pass has none).
    public let language: String?
    /// Every file name in the pass, so a page can tell which images it may link.
    public let fileNames: Set<String>

    /// Reads a `.pkpass`, localized for the first of `languages` the pass has (then English, then any).
    /// - Throws: `PassError` when the pass has no readable `pass.json`.
    public init(pkpass: [UInt8], languages: [String] = []) throws {
        let zip = try ZipReader(bytes: pkpass)
        var files: [String: [UInt8]] = [:]
        for entry in zip.entries where entry.name == "pass.json" || entry.name.hasSuffix(".lproj/pass.strings") {
            files[entry.name] = try zip.read(entry)
        }
        try self.init(files: files, languages: languages, fileNames: Set(zip.entries.map(\.name)))
    }

    public init(files: [String: [UInt8]], languages: [String] = [], fileNames: Set<String>? = nil) throws {
        self.fileNames = fileNames ?? Set(files.keys)
        guard let bytes = files["pass.json"], case .object(let pass)? = try? JSONParser.parse(bytes) else {
            throw PassError(.invalidPass, "The pass has no readable pass.json.")
        }
        let available = files.keys.compactMap { name -> String? in
            name.hasSuffix(".lproj/pass.strings") ? String(name.dropLast(".lproj/pass.strings".count)) : nil
        }
        let language = Self.pick(languages, from: available)
        var strings: [String: String] = [:]
        if let language, let bytes = files["\(language).lproj/pass.strings"], let text = PassStrings.decode(bytes),
           let pairs = try? PassStrings.parse(text) {
            for pair in pairs { strings[pair.key] = pair.value }
        }
        func localized(_ text: String) -> String { strings[text] ?? text }

        self.language = language
        style = PassJSONRules.styles.first { pass[$0] != nil } ?? "generic"
        organizationName = localized(pass["organizationName"]?.stringValue ?? "")
        description = localized(pass["description"]?.stringValue ?? "")
        logoText = pass["logoText"]?.stringValue.map(localized)
        foregroundColor = pass["foregroundColor"]?.stringValue.flatMap(Self.color)
        backgroundColor = pass["backgroundColor"]?.stringValue.flatMap(Self.color)
        labelColor = pass["labelColor"]?.stringValue.flatMap(Self.color)
        voided = pass["voided"]?.boolValue ?? false

        let structure = pass[style]?.objectValue ?? JSONObject()
        func fields(_ name: String) -> [Field] {
            (structure[name]?.arrayValue ?? []).compactMap { value -> Field? in
                guard let field = value.objectValue, let key = field["key"]?.stringValue, let raw = field["value"] else { return nil }
                return Field(key: key, label: field["label"]?.stringValue.map(localized), value: Self.display(raw, field: field, localized: localized))
            }
        }
        headerFields = fields("headerFields")
        primaryFields = fields("primaryFields")
        secondaryFields = fields("secondaryFields")
        auxiliaryFields = fields("auxiliaryFields")
        backFields = fields("backFields")

        let barcodes = pass["barcodes"]?.arrayValue ?? pass["barcode"].map { [$0] } ?? []
        barcode = barcodes.first?.objectValue.flatMap { code in
            guard let format = code["format"]?.stringValue, let message = code["message"]?.stringValue else { return nil }
            return Barcode(format: format, message: message, altText: code["altText"]?.stringValue.map(localized))
        }
    }

    /// The language of `preferred` (BCP 47 tags, best first) that the pass has: `de-CH` takes `de`.
    static func pick(_ preferred: [String], from available: [String]) -> String? {
        for tag in preferred {
            let lower = tag.lowercased()
            if let exact = available.first(where: { $0.lowercased() == lower }) { return exact }
            let base = lower.split(separator: "-").first.map(String.init) ?? lower
            if let match = available.first(where: { $0.lowercased() == base }) { return match }
        }
        return available.first { $0 == "en" } ?? available.sorted().first
    }

    /// `Accept-Language: de-CH, de;q=0.9, en;q=0.5` → `["de-CH", "de", "en"]`, by weight.
    public static func languages(acceptLanguage header: String?) -> [String] {
        guard let header else { return [] }
        let weighted = header.split(separator: ",").enumerated().compactMap { index, part -> (String, Double, Int)? in
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = pieces.first, !tag.isEmpty, tag != "*" else { return nil }
            let weight = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return weight > 0 ? (tag, weight, index) : nil
        }
        return weighted.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.2 < $1.2 }.map(\.0)
    }

    public static func color(_ text: String) -> Color? {
        guard text.hasPrefix("rgb("), text.hasSuffix(")") else { return nil }
        let parts = text.dropFirst(4).dropLast().split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, let r = parts[0], let g = parts[1], let b = parts[2], [r, g, b].allSatisfy({ (0...255).contains($0) }) else { return nil }
        return Color(red: r, green: g, blue: b)
    }

    /// A field's value as Wallet would show it: numbers grouped when `numberStyle` asks, amounts
    /// with their currency, text localized.
    static func display(_ value: JSONValue, field: JSONObject, localized: (String) -> String) -> String {
        switch value {
        case .string(let text): return localized(text)
        case .int(let number):
            if let currency = field["currencyCode"]?.stringValue { return "\(currency) \(grouped(number))" }
            return field["numberStyle"]?.stringValue == "PKNumberStyleDecimal" ? grouped(number) : String(number)
        case .double(let number):
            if let currency = field["currencyCode"]?.stringValue { return "\(currency) \(String(format: "%.2f", number))" }
            return String(number)
        case .bool(let flag): return String(flag)
        default: return ""
        }
    }

    static func grouped(_ number: Int64) -> String {
        let digits = String(number.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return number < 0 ? "-" + out : out
    }
}

extension PassPreview {
    /// One file of a `.pkpass` (an image for a preview, say); nil when the pass has no such file.
    public static func file(_ name: String, in pkpass: [UInt8]) throws -> [UInt8]? {
        let zip = try ZipReader(bytes: pkpass)
        guard let entry = zip.entry(named: name) else { return nil }
        return try zip.read(entry)
    }
}
