import PasslineJSON

/// The rules Wallet and the known validators apply to `pass.json`.
///
/// One rule set serves two moments: a template (where values may still be placeholders and
/// the identifiers come from the signing identity at build time) and a finished pass.
public enum PassJSONRules {
    public enum Mode: Sendable {
        /// A template's pass.json: `{{placeholders}}` stand in for values; the identifiers and
        /// serial number are set by the builder.
        case template
        /// A built pass: every value final, every required key present.
        case pass
    }

    public static let styles = ["boardingPass", "coupon", "eventTicket", "generic", "storeCard"]
    public static let fieldLists = ["headerFields", "primaryFields", "secondaryFields", "auxiliaryFields", "backFields"]
    /// Whether a barcode's `messageEncoding` names ISO 8859-1 (Latin-1), Wallet's usual one.
    public static func isLatin1(encoding: String?) -> Bool {
        guard let name = encoding?.lowercased() else { return false }
        return ["iso-8859-1", "iso_8859-1", "iso8859-1", "latin1", "latin-1", "l1"].contains(name)
    }

    public static let barcodeFormats: Set<String> = ["PKBarcodeFormatQR", "PKBarcodeFormatPDF417", "PKBarcodeFormatAztec", "PKBarcodeFormatCode128"]
    /// Keys the builder writes from the signing identity and the card; a template does not set them.
    public static let builderKeys: Set<String> = ["passTypeIdentifier", "teamIdentifier", "serialNumber", "authenticationToken", "webServiceURL"]

    /// Checks a parsed pass.json and returns every finding.
    /// - Parameters:
    ///   - json: the parsed document.
    ///   - mode: template or finished pass.
    ///   - file: the name to report findings under.
    public static func check(_ json: JSONValue, mode: Mode, file: String = "pass.json") -> [PassFinding] {
        var findings: [PassFinding] = []
        func error(_ field: String?, _ message: String) { findings.append(PassFinding(.error, file: file, field: field, message)) }
        func warning(_ field: String?, _ message: String) { findings.append(PassFinding(.warning, file: file, field: field, message)) }

        guard let root = json.objectValue else {
            error(nil, "must be a JSON object, found \(json.typeName)")
            return findings
        }
        let isTemplate = mode == .template
        func hasPlaceholder(_ value: JSONValue?) -> Bool {
            isTemplate && (value?.stringValue?.contains("{{") ?? false)
        }

        // Keys the builder writes whole: a placeholder in them would ship as its literal text.
        if isTemplate {
            for key in ["voided", "expirationDate", "relevantDate", "relevantDates", "locations", "maxDistance"] {
                if let value = root[key], JSONWriter.string(value).contains("{{") {
                    error(key, "cannot hold a placeholder: give a literal here, or set the card's own \(key == "voided" ? "state with POST /api/v1/cards/{serial}/void" : "value over the API (expirationDate, relevantDates, locations, maxDistance)")")
                }
            }
        }

        // formatVersion
        switch root["formatVersion"] {
        case nil: error("formatVersion", "is required and must be 1")
        case .int(1): break
        case let other?: error("formatVersion", "must be the integer 1, found \(JSONWriter.string(other))")
        }

        for key in ["description", "organizationName"] {
            switch root[key] {
            case nil: error(key, "is required")
            case .string(let s) where s.trimmingWhitespace.isEmpty: error(key, "must not be empty")
            case .string: break
            case let other?: error(key, "must be a string, found \(other.typeName)")
            }
        }

        for key in ["passTypeIdentifier", "teamIdentifier", "serialNumber"] {
            let value = root[key]
            if isTemplate {
                if value != nil { warning(key, "is set by the signing identity or the card at build time; the template's value is ignored") }
            } else {
                switch value {
                case nil: error(key, "is required")
                case .string(let s) where s.isEmpty: error(key, "must not be empty")
                case .string: break
                case let other?: error(key, "must be a string, found \(other.typeName)")
                }
            }
        }

        // Exactly one style.
        let present = styles.filter { root[$0] != nil }
        if present.isEmpty {
            error(nil, "has no pass style; exactly one of \(styles.joined(separator: ", ")) is required")
        } else if present.count > 1 {
            error(nil, "has \(present.count) pass styles (\(present.joined(separator: ", "))); exactly one is allowed")
        }
        var fieldKeys: [String: String] = [:]
        for style in present {
            guard let structure = root[style]?.objectValue else {
                error(style, "must be an object, found \(root[style]!.typeName)")
                continue
            }
            if style == "boardingPass" {
                let transit: Set<String> = ["PKTransitTypeAir", "PKTransitTypeBoat", "PKTransitTypeBus", "PKTransitTypeGeneric", "PKTransitTypeTrain"]
                switch structure["transitType"] {
                case nil: error("boardingPass.transitType", "is required for a boarding pass")
                case .string(let s) where transit.contains(s): break
                case let other?: error("boardingPass.transitType", "must be one of \(transit.sorted().joined(separator: ", ")), found \(JSONWriter.string(other))")
                }
            }
            for list in fieldLists {
                guard let value = structure[list] else { continue }
                let path = "\(style).\(list)"
                guard let fields = value.arrayValue else {
                    error(path, "must be an array of fields, found \(value.typeName)")
                    continue
                }
                for (index, field) in fields.enumerated() {
                    checkField(field, path: "\(path)[\(index)]", keys: &fieldKeys)
                }
            }
        }

        func checkField(_ field: JSONValue, path: String, keys: inout [String: String]) {
            guard let object = field.objectValue else {
                error(path, "must be an object, found \(field.typeName)")
                return
            }
            switch object["key"] {
            case .string(let key) where !key.isEmpty:
                if let first = keys[key] {
                    error("\(path).key", "\"\(key)\" is used twice (also at \(first)); field keys must be unique in a pass")
                } else {
                    keys[key] = path
                }
            case nil: error("\(path).key", "is required")
            case let other?: error("\(path).key", "must be a non-empty string, found \(JSONWriter.string(other))")
            }
            switch object["value"] {
            case nil: error("\(path).value", "is required")
            case .string, .int, .double: break
            case let other?: error("\(path).value", "must be a string or a number, found \(other.typeName)")
            }
            for key in ["label", "attributedValue", "currencyCode"] {
                if let value = object[key], value.stringValue == nil, !(key == "attributedValue" && value.isNumber) {
                    error("\(path).\(key)", "must be a string, found \(value.typeName)")
                }
            }
            if let message = object["changeMessage"] {
                if let text = message.stringValue {
                    if !text.contains("%@") {
                        error("\(path).changeMessage", "must contain %@, where Wallet puts the new value (\"\(text)\")")
                    }
                } else {
                    error("\(path).changeMessage", "must be a string, found \(message.typeName)")
                }
            }
            let enums: [(String, Set<String>)] = [
                ("dateStyle", ["PKDateStyleNone", "PKDateStyleShort", "PKDateStyleMedium", "PKDateStyleLong", "PKDateStyleFull"]),
                ("timeStyle", ["PKDateStyleNone", "PKDateStyleShort", "PKDateStyleMedium", "PKDateStyleLong", "PKDateStyleFull"]),
                ("numberStyle", ["PKNumberStyleDecimal", "PKNumberStylePercent", "PKNumberStyleScientific", "PKNumberStyleSpellOut"]),
                ("textAlignment", ["PKTextAlignmentLeft", "PKTextAlignmentCenter", "PKTextAlignmentRight", "PKTextAlignmentNatural"]),
            ]
            for (key, allowed) in enums {
                guard let value = object[key] else { continue }
                guard let text = value.stringValue, allowed.contains(text) else {
                    error("\(path).\(key)", "must be one of \(allowed.sorted().joined(separator: ", ")), found \(JSONWriter.string(value))")
                    continue
                }
            }
            if object["dateStyle"] != nil || object["timeStyle"] != nil, let value = object["value"], !hasPlaceholder(value) {
                if let text = value.stringValue, ISO8601.isValidWithZone(text) == false {
                    error("\(path).value", "must be an ISO 8601 date with a time zone when dateStyle or timeStyle is set, found \"\(text)\"")
                }
            }
        }

        // Barcodes.
        if let barcodes = root["barcodes"] {
            if let list = barcodes.arrayValue {
                for (index, barcode) in list.enumerated() { checkBarcode(barcode, path: "barcodes[\(index)]") }
            } else {
                error("barcodes", "must be an array, found \(barcodes.typeName)")
            }
        }
        if let barcode = root["barcode"] {
            checkBarcode(barcode, path: "barcode")
            if root["barcodes"] == nil { warning("barcode", "is deprecated since iOS 9; use barcodes (an array)") }
        }
        func checkBarcode(_ barcode: JSONValue, path: String) {
            guard let object = barcode.objectValue else {
                error(path, "must be an object, found \(barcode.typeName)")
                return
            }
            switch object["format"] {
            case .string(let s) where barcodeFormats.contains(s): break
            case nil: error("\(path).format", "is required")
            case let other?: error("\(path).format", "must be one of \(barcodeFormats.sorted().joined(separator: ", ")), found \(JSONWriter.string(other))")
            }
            switch object["message"] {
            case .string: break
            case nil: error("\(path).message", "is required")
            case let other?: error("\(path).message", "must be a string, found \(other.typeName)")
            }
            if isLatin1(encoding: object["messageEncoding"]?.stringValue), let message = object["message"]?.stringValue, !hasPlaceholder(.string(message)),
               let bad = message.unicodeScalars.first(where: { $0.value > 0xFF }) {
                error("\(path).message", "has \"\(bad)\", which the iso-8859-1 messageEncoding cannot carry; use \"utf-8\"")
            }
            switch object["messageEncoding"] {
            case .string(let s) where !s.isEmpty: break
            case nil: error("\(path).messageEncoding", "is required (usually \"iso-8859-1\" or \"utf-8\")")
            case let other?: error("\(path).messageEncoding", "must be an encoding name, found \(JSONWriter.string(other))")
            }
            if let alt = object["altText"], alt.stringValue == nil { error("\(path).altText", "must be a string, found \(alt.typeName)") }
        }

        // Colours.
        for key in ["backgroundColor", "foregroundColor", "labelColor"] {
            guard let value = root[key], !hasPlaceholder(value) else { continue }
            guard let text = value.stringValue, RGBColor(text) != nil else {
                error(key, "must be a colour written rgb(r, g, b) with each part 0 to 255, found \(JSONWriter.string(value))")
                continue
            }
        }

        // Dates.
        for key in ["relevantDate", "expirationDate"] {
            guard let value = root[key], !hasPlaceholder(value) else { continue }
            guard let text = value.stringValue, ISO8601.isValidWithZone(text) else {
                error(key, "must be an ISO 8601 date and time with a time zone (2026-12-31T23:59:00+01:00), found \(JSONWriter.string(value))")
                continue
            }
        }

        // Semantic tags (Apple's SemanticTags): an object; a store card's `balance` is a money
        // amount (SemanticTagType.CurrencyAmount), which points are not, so a points card has
        // no tag that applies; a template may still give one for a stored-value card.
        if let semantics = root["semantics"] {
            if let object = semantics.objectValue {
                if let balance = object["balance"] {
                    if !present.contains("storeCard") { error("semantics.balance", "is for store cards only") }
                    let amount = balance["amount"], code = balance["currencyCode"]
                    if balance.objectValue == nil || amount?.stringValue == nil || code?.stringValue == nil {
                        error("semantics.balance", "must be {\"amount\": \"12.50\", \"currencyCode\": \"EUR\"} (both strings)")
                    } else if let text = code?.stringValue, !hasPlaceholder(code), !(text.count == 3 && text.allSatisfy({ $0.isASCII && $0.isUppercase })) {
                        error("semantics.balance.currencyCode", "must be an ISO 4217 code such as EUR, found \"\(text.prefix(10))\"")
                    }
                }
            } else {
                error("semantics", "must be an object of Apple's semantic tags, found \(semantics.typeName)")
            }
        }

        // Locations and beacons.
        if let locations = root["locations"] {
            if let list = locations.arrayValue {
                if list.count > 10 { error("locations", "has \(list.count) entries; Wallet uses at most 10") }
                for (index, location) in list.enumerated() {
                    let path = "locations[\(index)]"
                    guard let object = location.objectValue else { error(path, "must be an object"); continue }
                    for key in ["latitude", "longitude"] where !(object[key]?.isNumber ?? false) {
                        error("\(path).\(key)", "is required and must be a number")
                    }
                }
            } else {
                error("locations", "must be an array, found \(locations.typeName)")
            }
        }
        if let beacons = root["beacons"] {
            if let list = beacons.arrayValue {
                if list.count > 10 { error("beacons", "has \(list.count) entries; Wallet uses at most 10") }
            } else {
                error("beacons", "must be an array, found \(beacons.typeName)")
            }
        }

        // Booleans.
        for key in ["voided", "sharingProhibited", "suppressStripShine"] {
            if let value = root[key], value.boolValue == nil, !hasPlaceholder(value) {
                error(key, "must be true or false, found \(JSONWriter.string(value))")
            }
        }

        // Web service.
        if !isTemplate {
            let token = root["authenticationToken"]
            let url = root["webServiceURL"]
            if (token == nil) != (url == nil) {
                error(token == nil ? "authenticationToken" : "webServiceURL", "must be set together with \(token == nil ? "webServiceURL" : "authenticationToken")")
            }
            if let token {
                if let text = token.stringValue {
                    if text.count < 16 { error("authenticationToken", "must be at least 16 characters, found \(text.count)") }
                } else {
                    error("authenticationToken", "must be a string, found \(token.typeName)")
                }
            }
            if let url {
                if let text = url.stringValue {
                    if text.hasPrefix("http://") {
                        warning("webServiceURL", "uses plain http; only an iPhone with the developer setting \"Allow HTTP Services\" accepts it")
                    } else if !text.hasPrefix("https://") {
                        error("webServiceURL", "must be an https URL, found \"\(text)\"")
                    }
                } else {
                    error("webServiceURL", "must be a string, found \(url.typeName)")
                }
            }
        }
        return findings
    }
}

/// A colour as pass.json writes it: `rgb(r, g, b)`.
public struct RGBColor: Sendable, Equatable {
    public let red: Int, green: Int, blue: Int

    public init?(_ text: String) {
        let trimmed = text.trimmingWhitespace
        guard trimmed.hasPrefix("rgb("), trimmed.hasSuffix(")") else { return nil }
        let parts = trimmed.dropFirst(4).dropLast().split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace }
        guard parts.count == 3 else { return nil }
        let values = parts.compactMap { Int($0) }
        guard values.count == 3, values.allSatisfy({ (0...255).contains($0) }) else { return nil }
        (red, green, blue) = (values[0], values[1], values[2])
    }

    /// `#rrggbb`, for HTML.
    public var hex: String {
        let digits = Array("0123456789abcdef")
        return "#" + [red, green, blue].map { String([digits[$0 >> 4], digits[$0 & 15]]) }.joined()
    }
}

/// W3C's profile of ISO 8601, which Wallet reads: a date, a time, and a zone.
public enum ISO8601 {
    /// `2026-12-31T23:59Z`, `2026-12-31T23:59:59+01:00`, with optional fractional seconds.
    public static func isValidWithZone(_ text: String) -> Bool {
        let c = Array(text.utf8)
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= c.count else { return nil }
            var v = 0
            for i in at..<(at + n) {
                guard (48...57).contains(c[i]) else { return nil }
                v = v * 10 + Int(c[i] - 48)
            }
            return v
        }
        guard let _ = digits(0, 4), c.count > 16, c[4] == UInt8(ascii: "-"), let month = digits(5, 2), c[7] == UInt8(ascii: "-"),
              let day = digits(8, 2), c[10] == UInt8(ascii: "T"), let hour = digits(11, 2), c[13] == UInt8(ascii: ":"), let minute = digits(14, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60 else { return false }
        var i = 16
        if i < c.count, c[i] == UInt8(ascii: ":") {
            guard let second = digits(i + 1, 2), second < 61 else { return false }
            i += 3
            if i < c.count, c[i] == UInt8(ascii: ".") {
                i += 1
                let start = i
                while i < c.count, (48...57).contains(c[i]) { i += 1 }
                guard i > start else { return false }
            }
        }
        guard i < c.count else { return false }
        if c[i] == UInt8(ascii: "Z") { return i + 1 == c.count }
        guard c[i] == UInt8(ascii: "+") || c[i] == UInt8(ascii: "-"), let zh = digits(i + 1, 2), zh < 24 else { return false }
        if i + 3 == c.count { return true }
        if i + 6 == c.count, c[i + 3] == UInt8(ascii: ":"), let zm = digits(i + 4, 2), zm < 60 { return true }
        if i + 5 == c.count, let zm = digits(i + 3, 2), zm < 60 { return true }
        return false
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
