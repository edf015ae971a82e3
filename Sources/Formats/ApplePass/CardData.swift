import PasslineJSON

/// One card's values for a template, plus the keys the builder itself writes.
public struct CardData: Sendable, Equatable {
    public var serialNumber: String
    /// With `webServiceURL`: the secret a device presents to the pass web service (16+ characters).
    public var authenticationToken: String?
    /// With `authenticationToken`: where devices register and fetch updates.
    public var webServiceURL: String?
    /// Sets the pass's `voided` key, overriding the template.
    public var voided: Bool?
    /// Sets the pass's `expirationDate` (ISO 8601 with a time zone), overriding the template.
    public var expirationDate: String?
    /// The card's own values for keys a template may only set as literals (`relevantDate`,
    /// `relevantDates`, `locations`, `maxDistance`): each replaces the template's.
    public var passKeys: [String: JSONValue] = [:]
    /// The member signed up through Wallet's form: the pass leaves the form's files out.
    public var personalized = false
    /// The values for the template's placeholders, by key.
    public var values: [String: JSONValue]
    /// Shown in front of the pass's `logoText` (or as it, when the template has none), on the
    /// front of the card: "TEST" on a test-mode pass, so no one takes it for a real one.
    public var marker: String?

    public init(serialNumber: String, values: [String: JSONValue] = [:], authenticationToken: String? = nil,
                webServiceURL: String? = nil, voided: Bool? = nil, expirationDate: String? = nil) {
        self.serialNumber = serialNumber
        self.values = values
        self.authenticationToken = authenticationToken
        self.webServiceURL = webServiceURL
        self.voided = voided
        self.expirationDate = expirationDate
    }

    /// Reads card data from a JSON object such as the command line's `--data` file.
    /// - Throws: `PassError.invalidCardData` naming each bad key.
    public init(json: JSONValue) throws {
        guard let object = json.objectValue else {
            throw PassError(.invalidCardData, "Card data must be a JSON object, found \(json.typeName).")
        }
        var problems: [String] = []
        func string(_ key: String) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            case let other?: problems.append("\(key) must be a string, found \(other.typeName)"); return nil
            }
        }
        let serial = string("serialNumber")
        let token = string("authenticationToken")
        let url = string("webServiceURL")
        let expiration = string("expirationDate")
        var voided: Bool?
        switch object["voided"] {
        case nil, .null?: break
        case .bool(let b)?: voided = b
        case let other?: problems.append("voided must be true or false, found \(other.typeName)")
        }
        var values: [String: JSONValue] = [:]
        for member in object.members {
            switch member.value {
            case .array, .object: problems.append("\(member.key) must be a single value, found \(member.value.typeName)")
            default: values[member.key] = member.value
            }
        }
        if serial == nil && object["serialNumber"] == nil { problems.append("serialNumber is required") }
        guard problems.isEmpty, let serial else {
            throw PassError(.invalidCardData, "The card data is not valid: \(problems.joined(separator: "; ")).")
        }
        self.init(serialNumber: serial, values: values, authenticationToken: token, webServiceURL: url, voided: voided, expirationDate: expiration)
    }

    /// Checks the builder's own keys; placeholders are checked against the template when rendering.
    func validate() throws {
        var problems: [String] = []
        if serialNumber.isEmpty || serialNumber.count > 128 {
            problems.append("serialNumber must be 1 to 128 characters")
        } else if serialNumber.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "/" || $0 == "\u{7F}" }) {
            problems.append("serialNumber must not contain '/' or control characters (it is part of the web service's URLs)")
        }
        if (authenticationToken == nil) != (webServiceURL == nil) {
            problems.append("authenticationToken and webServiceURL go together: give both or neither")
        }
        if let token = authenticationToken {
            if token.count < 16 { problems.append("authenticationToken must be at least 16 characters, found \(token.count)") }
            if token.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7E }) { problems.append("authenticationToken must be printable ASCII without spaces") }
        }
        if let url = webServiceURL, !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
            problems.append("webServiceURL must be an http or https URL, found \"\(url)\"")
        }
        if let marker, marker.isEmpty || marker.count > 20 {
            problems.append("marker must be 1 to 20 characters")
        }
        if let date = expirationDate, !ISO8601.isValidWithZone(date) {
            problems.append("expirationDate must be an ISO 8601 date and time with a time zone (2026-12-31T23:59:00+01:00), found \"\(date)\"")
        }
        if !problems.isEmpty {
            throw PassError(.invalidCardData, "The card data is not valid: \(problems.joined(separator: "; ")).")
        }
    }
}
