import PasslineJSON

/// A template as Google Wallet's loyalty class: what every card of the program shares.
public struct LoyaltyProgram: Sendable, Equatable {
    public var classID: String
    public var issuerName: String
    public var programName: String
    /// A public https URL: Google fetches the image itself.
    public var logoURL: String
    /// `#rrggbb`.
    public var backgroundColor: String?
    public var textModules: [TextModule]
    public var links: [Link]
    /// Where Google reports saves and deletions of the class's objects (`callbackOptions.url`).
    public var callbackURL: String?
    /// The issuer's name (`header`) and the program's (`body`) in other languages.
    public var nameTranslations = Translations()
    /// A public https URL of the class's wide banner (`heroImage`), when the template has one.
    public var heroURL: String?

    public init(classID: String, issuerName: String, programName: String, logoURL: String, backgroundColor: String? = nil,
                textModules: [TextModule] = [], links: [Link] = [], callbackURL: String? = nil) {
        self.classID = classID; self.issuerName = issuerName; self.programName = programName; self.logoURL = logoURL
        self.backgroundColor = backgroundColor; self.textModules = textModules; self.links = links; self.callbackURL = callbackURL
    }

    /// The `LoyaltyClass` resource. Inserted `UNDER_REVIEW`: a draft class cannot hold objects.
    public func json() -> JSONObject {
        var object = JSONObject([
            ("id", .string(classID)),
            ("issuerName", .string(Self.clip(issuerName, 60))),
            ("programName", .string(Self.clip(programName, 60))),
            ("programLogo", .object(JSONObject([
                ("sourceUri", .object(JSONObject([("uri", .string(logoURL))]))),
                ("contentDescription", .object(JSONObject([
                    ("defaultValue", .object(JSONObject([("language", .string("en-US")), ("value", .string(Self.clip(programName, 60)))]))),
                ]))),
            ]))),
            ("reviewStatus", .string("UNDER_REVIEW")),
        ])
        if let localized = nameTranslations.localized(Self.clip(issuerName, 60), \.header) { object["localizedIssuerName"] = .object(localized) }
        if let localized = nameTranslations.localized(Self.clip(programName, 60), \.body) { object["localizedProgramName"] = .object(localized) }
        if let heroURL {
            object["heroImage"] = .object(JSONObject([
                ("sourceUri", .object(JSONObject([("uri", .string(heroURL))]))),
                ("contentDescription", .object(JSONObject([
                    ("defaultValue", .object(JSONObject([("language", .string("en-US")), ("value", .string(Self.clip(programName, 60)))]))),
                ]))),
            ]))
        }
        if let backgroundColor { object["hexBackgroundColor"] = .string(backgroundColor) }
        if let callbackURL { object["callbackOptions"] = .object(JSONObject([("url", .string(callbackURL))])) }
        if !textModules.isEmpty { object["textModulesData"] = .array(textModules.map { .object($0.json()) }) }
        if !links.isEmpty {
            object["linksModuleData"] = .object(JSONObject([("uris", .array(links.map { .object($0.json()) }))]))
        }
        return object
    }

    /// Google cuts long texts on small screens; its limits are recommendations, so clip, never refuse.
    static func clip(_ text: String, _ limit: Int) -> String { text.count <= limit ? text : String(text.prefix(limit - 1)) + "…" }
}

public struct TextModule: Sendable, Equatable {
    public var id: String
    public var header: String
    public var body: String
    /// The header and body in other languages, from the template's `.lproj` strings.
    public var translations: Translations
    public init(id: String, header: String, body: String, translations: Translations = Translations()) {
        self.id = id; self.header = header; self.body = body; self.translations = translations
    }
    func json() -> JSONObject {
        var object = JSONObject([("header", .string(header)), ("body", .string(body)), ("id", .string(WalletIDs.suffix(id)))])
        if let localized = translations.localized(header, \.header) { object["localizedHeader"] = .object(localized) }
        if let localized = translations.localized(body, \.body) { object["localizedBody"] = .object(localized) }
        return object
    }
}

/// What a text reads in other languages: Google's `LocalizedString`, with the pass's default
/// language as `defaultValue` and each `.lproj` of the template as a `translatedValues` entry.
public struct Translations: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var language: String
        public var header: String
        public var body: String
        public init(language: String, header: String = "", body: String = "") { self.language = language; self.header = header; self.body = body }
    }
    /// The language of the default texts ("en"), nil when the pass has no strings.
    public var defaultLanguage: String?
    public var entries: [Entry]
    public init(defaultLanguage: String? = nil, entries: [Entry] = []) { self.defaultLanguage = defaultLanguage; self.entries = entries }

    /// A `LocalizedString` for `text`, or nil when no language reads differently.
    public func localized(_ text: String, _ part: KeyPath<Entry, String>) -> JSONObject? {
        let others = entries.filter { !$0[keyPath: part].isEmpty && $0[keyPath: part] != text }
        guard let defaultLanguage, !others.isEmpty else { return nil }
        return JSONObject([
            ("defaultValue", .object(JSONObject([("language", .string(defaultLanguage)), ("value", .string(text))]))),
            ("translatedValues", .array(others.map { .object(JSONObject([("language", .string($0.language)), ("value", .string($0[keyPath: part]))])) })),
        ])
    }
}

public struct Link: Sendable, Equatable {
    public var id: String
    public var uri: String
    public var description: String
    public init(id: String, uri: String, description: String) { self.id = id; self.uri = uri; self.description = description }
    func json() -> JSONObject {
        JSONObject([("uri", .string(uri)), ("description", .string(description)), ("id", .string(WalletIDs.suffix(id)))])
    }
}

/// A card as Google Wallet's loyalty object.
public struct LoyaltyCard: Sendable, Equatable {
    public enum State: String, Sendable { case active = "ACTIVE", inactive = "INACTIVE", expired = "EXPIRED" }

    public struct Barcode: Sendable, Equatable {
        /// Google's `BarcodeType`: `QR_CODE`, `PDF_417`, `AZTEC`, `CODE_128`.
        public var type: String
        public var value: String
        public var alternateText: String?
        public init(type: String, value: String, alternateText: String?) { self.type = type; self.value = value; self.alternateText = alternateText }

        /// Apple's barcode format as Google's type; nil for one Google has no counterpart of.
        public static func type(applePassFormat: String) -> String? {
            ["PKBarcodeFormatQR": "QR_CODE", "PKBarcodeFormatPDF417": "PDF_417", "PKBarcodeFormatAztec": "AZTEC",
             "PKBarcodeFormatCode128": "CODE_128"][applePassFormat]
        }
    }

    public var objectID: String
    public var classID: String
    public var state: State
    public var accountID: String
    public var accountName: String
    public var points: Int64
    public var pointsLabel: String
    public var barcode: Barcode?
    public var textModules: [TextModule]
    /// The card's current message (the pass's `{{message}}` back field), if it has one.
    public var message: TextModule?
    /// The words of the card's soonest expiry while a reminder stands.
    public var notice: TextModule?
    /// The points label in other languages (as `header`).
    public var pointsLabelTranslations = Translations()
    /// ISO 8601 with a time zone: when the card stops being valid.
    public var validUntil: String?
    /// `merchantLocations`: where Google may notify the holder (at most 10).
    public var locations: [Location]

    public struct Location: Sendable, Equatable {
        public let latitude: Double
        public let longitude: Double
        public init(latitude: Double, longitude: Double) { self.latitude = latitude; self.longitude = longitude }
    }

    public init(objectID: String, classID: String, state: State, accountID: String, accountName: String, points: Int64, pointsLabel: String,
                barcode: Barcode?, textModules: [TextModule], message: TextModule?, validUntil: String?,
                locations: [Location] = []) {
        self.objectID = objectID; self.classID = classID; self.state = state; self.accountID = accountID; self.accountName = accountName
        self.points = points; self.pointsLabel = pointsLabel; self.barcode = barcode; self.textModules = textModules; self.message = message
        self.validUntil = validUntil; self.locations = Array(locations.prefix(10))
    }

    /// How an update should reach the holder.
    public struct Notification: Sendable, Equatable {
        /// `notifyPreference: notifyOnUpdate`: Wallet shows the balance (or tier) change.
        public var onUpdate: Bool
        /// The new message goes through `addMessage` as `TEXT_AND_NOTIFY`.
        public var message: Bool
        /// A notice added with `addMessage` (a reminder that points expire) goes as `TEXT_AND_NOTIFY`.
        public var notice: Bool
        public init(onUpdate: Bool = false, message: Bool = false, notice: Bool = false) {
            self.onUpdate = onUpdate; self.message = message; self.notice = notice
        }
        public static let none = Notification()
    }

    /// The body of `loyaltyObject/{id}/addMessage` (an `AddMessageRequest`): Google's way to
    /// put a message on a saved pass and, as `TEXT_AND_NOTIFY`, to notify its holder.
    public static func addMessage(id: String, header: String, body: String, notify: Bool) -> JSONObject {
        JSONObject([("message", .object(JSONObject([
            ("header", .string(header)), ("body", .string(body)), ("id", .string(WalletIDs.suffix(id))),
            ("messageType", .string(notify ? "TEXT_AND_NOTIFY" : "TEXT")),
        ])))])
    }

    /// The `LoyaltyObject` resource. Its text modules and messages are always sent, empty
    /// included: a PATCH replaces the lists it names and keeps those it leaves out, so a message
    /// or module the card no longer has would stay on Android.
    /// - Parameter withholding: ids of messages left out because they follow through
    ///   `addMessage`, the only way Google notifies of a message.
    public func json(notification: Notification = .none, withholding: Set<String> = []) -> JSONObject {
        var object = JSONObject([
            ("id", .string(objectID)),
            ("classId", .string(classID)),
            ("state", .string(state.rawValue)),
            ("accountId", .string(accountID)),
            ("accountName", .string(accountName)),
            ("loyaltyPoints", .object(JSONObject([
                ("label", .string(LoyaltyProgram.clip(pointsLabel, 30))),
                ("balance", .object(JSONObject([("int", .int(points))]))),
            ]))),
        ])
        if let localized = pointsLabelTranslations.localized(LoyaltyProgram.clip(pointsLabel, 30), \.header), case .object(var points)? = object["loyaltyPoints"] {
            points["localizedLabel"] = .object(localized)
            object["loyaltyPoints"] = .object(points)
        }
        if let barcode {
            var code = JSONObject([("type", .string(barcode.type)), ("value", .string(barcode.value))])
            if let text = barcode.alternateText { code["alternateText"] = .string(text) }
            object["barcode"] = .object(code)
        }
        object["textModulesData"] = .array(textModules.map { .object($0.json()) })
        object["messages"] = .array([notice, message].compactMap { $0 }.filter { !withholding.contains($0.id) }.map { module in
            .object(JSONObject([("header", .string(module.header)), ("body", .string(module.body)), ("id", .string(WalletIDs.suffix(module.id))),
                                ("messageType", .string("TEXT"))]))
        })
        if let validUntil {
            object["validTimeInterval"] = .object(JSONObject([("end", .object(JSONObject([("date", .string(validUntil))])))]))
        }
        if !locations.isEmpty {
            object["merchantLocations"] = .array(locations.map { .object(JSONObject([("latitude", .double($0.latitude)), ("longitude", .double($0.longitude))])) })
        }
        if notification.onUpdate { object["notifyPreference"] = .string("notifyOnUpdate") }
        return object
    }
}
