import ApplePass
import Foundation
import GoogleWallet
import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineService
import PasslineStore

/// A card and its template as Google Wallet resources, read from the card's own Apple pass, so
/// that both wallets show the same names, fields and barcode.
public enum GoogleCardMapping {
    public struct Resources: Sendable {
        public let program: LoyaltyProgram
        public let card: LoyaltyCard
        /// The tier shown, and the message text without its toggle: what decides notifications.
        public let tier: String
        public let message: String
        /// The words of the card's soonest expiry while a reminder stands (empty otherwise): a
        /// new one goes to the holder as a message of its own.
        public let notice: String
    }

    /// - Parameters:
    ///   - preview: the card's current pass, read back.
    ///   - template: its template, whose back fields without placeholders go on the class.
    ///   - logoURL: the program logo's public https URL.
    ///   - callbackURL: where Google reports saves and deletions of the class's objects.
    ///   - heroURL: the public URL of the template's `google/hero.png`, used when it has one.
    ///   - translations: the same pass read in each other language it has strings for.
    public static func resources(card: Cards.Card, preview: PassPreview, template: PassTemplate, issuer: String, logoURL: String,
                                 heroURL: String? = nil, callbackURL: String? = nil, translations: [PassPreview] = [], now: Date = Date()) -> Resources {
        let classID = WalletIDs.classID(issuer: issuer, template: card.templateID)
        let sharedKeys = Set((template.document[template.style]?["backFields"]?.arrayValue ?? []).compactMap { field -> String? in
            guard let key = field["key"]?.stringValue, let value = field["value"], !JSONWriter.string(value).contains("{{") else { return nil }
            return key
        })
        // A German holder reads German on Android too: each field in each language of the pass.
        let others = translations.filter { $0.language != nil && $0.language != preview.language }
        func translated(_ entry: (PassPreview) -> Translations.Entry?) -> Translations {
            Translations(defaultLanguage: preview.language, entries: others.compactMap(entry))
        }
        func allFields(_ pass: PassPreview) -> [PassPreview.Field] {
            pass.headerFields + pass.primaryFields + pass.secondaryFields + pass.auxiliaryFields + pass.backFields
        }
        func module(_ field: PassPreview.Field) -> TextModule {
            TextModule(id: field.key, header: field.label ?? "", body: field.value, translations: translated { other in
                allFields(other).first { $0.key == field.key }.map { Translations.Entry(language: other.language ?? "", header: $0.label ?? "", body: $0.value) }
            })
        }

        let shared = preview.backFields.filter { sharedKeys.contains($0.key) && !$0.value.isEmpty }
        var program = LoyaltyProgram(
            classID: classID, issuerName: preview.organizationName, programName: preview.logoText ?? preview.description, logoURL: logoURL,
            // The class is every card's: its colour is the template's, not one card's expiry stage.
            backgroundColor: (template.document["backgroundColor"]?.stringValue.flatMap(PassPreview.color) ?? preview.backgroundColor)
                .map { String(format: "#%02x%02x%02x", $0.red, $0.green, $0.blue) },
            textModules: shared.filter { !$0.value.hasPrefix("https://") }.map(module),
            links: shared.filter { $0.value.hasPrefix("https://") && !$0.value.contains(" ") }.map { Link(id: $0.key, uri: $0.value, description: $0.label ?? $0.value) },
            callbackURL: callbackURL
        )
        program.heroURL = template.googleImages.contains("google/hero.png") ? heroURL : nil
        program.nameTranslations = translated { Translations.Entry(language: $0.language ?? "", header: $0.organizationName, body: $0.logoText ?? $0.description) }

        let front = preview.headerFields + preview.primaryFields + preview.secondaryFields + preview.auxiliaryFields
        let tierField = front.first { $0.key == "tier" }
        let tier = tierField?.value ?? card.fields["tier"]?.stringValue ?? ""
        var modules: [TextModule] = []
        // Front fields other than the points and the name (Google shows those itself).
        for field in front where !["points", "memberName", "name", "balance"].contains(field.key) && !field.value.isEmpty { modules.append(module(field)) }
        // The back field that shows the card's message: the one whose value is the `message`
        // placeholder, whatever its key (the loyalty template calls it "news").
        let messageKey = (template.document[template.style]?["backFields"]?.arrayValue ?? []).first { field in
            let value = field["value"]?.stringValue ?? ""
            return ["{{\(MessageField.key)}}", "{{\(MessageField.key):", "{{\(MessageField.key)|"].contains { value.contains($0) }
        }?["key"]?.stringValue ?? MessageField.key
        let messageField = preview.backFields.first { $0.key == messageKey }
        let message = (messageField?.value ?? "").replacingOccurrences(of: "\u{2060}", with: "")
        for field in preview.backFields where !sharedKeys.contains(field.key) && field.key != messageKey && !field.value.isEmpty {
            modules.append(module(field))
        }
        let pointsLabel = front.first { $0.key == "points" }?.label ?? "Points"

        // The same expiry and places as the Apple pass: the card's own, else the template's.
        let expiration = card.wallet.expiresAt.map(Timestamp.format) ?? template.document["expirationDate"]?.stringValue
        var state = LoyaltyCard.State.active
        if card.voided || preview.voided {
            state = .inactive
        } else if let expiration, let date = ISO8601DateFormatter().date(from: expiration), date <= now {
            state = .expired
        }
        let places = !card.wallet.locations.isEmpty ? card.wallet.locations
            : template.document["locations"].flatMap { try? WalletOptions().applying(JSONObject([("locations", $0)])).locations } ?? []
        let barcode = preview.barcode.flatMap { code in
            LoyaltyCard.Barcode.type(applePassFormat: code.format).map { LoyaltyCard.Barcode(type: $0, value: code.message, alternateText: code.altText) }
        }
        let object = LoyaltyCard(
            objectID: WalletIDs.objectID(issuer: issuer, serial: card.serialNumber), classID: classID, state: state, accountID: card.memberID,
            accountName: card.memberName, points: card.points, pointsLabel: pointsLabel, barcode: barcode, textModules: modules,
            message: message.isEmpty ? nil : TextModule(id: Self.messageID("message", message), header: messageField?.label ?? preview.organizationName, body: message),
            validUntil: state == .active ? expiration : nil,
            locations: places.map { LoyaltyCard.Location(latitude: $0.latitude, longitude: $0.longitude) }
        )
        var withNotice = object
        withNotice.pointsLabelTranslations = translated { other in
            other.primaryFields.first { $0.key == "points" }.map { Translations.Entry(language: other.language ?? "", header: $0.label ?? "") }
        }
        let notice = card.fields[CardLook.expiringKey]?.stringValue ?? ""
        if !notice.isEmpty { withNotice.notice = TextModule(id: Self.messageID("expiry", notice), header: preview.organizationName, body: notice) }
        return Resources(program: program, card: withNotice, tier: tier, message: message, notice: notice)
    }

    /// A message's id on Google: its kind and a digest of its words, so each new text is a new
    /// message and the same text keeps its id from sync to sync.
    static func messageID(_ kind: String, _ text: String) -> String {
        kind + "-" + String(Digest.hex(Digest.sha256(Array(text.utf8))).prefix(16))
    }

    /// Which changes reach the holder as a notification, as on an iPhone (where every balance
    /// change notifies through its `changeMessage`): a new expiry notice (a reminder), a new
    /// message, and any change of the balance (earn or redemption) or tier. Google allows three
    /// per pass per day: reminders and messages may take all three; balance and tier changes
    /// stop at two, so the day's last one is kept for a reminder or message. The first sync never
    /// notifies.
    public static func notification(previous: GoogleSync.ObjectState?, points: Int64, tier: String, message: String, notice: String = "",
                                     now: Int64) -> (LoyaltyCard.Notification, notifiedAt: [Int64]) {
        guard let previous else { return (.none, []) }
        var recent = previous.notifiedAt.filter { $0 > now - 86_400_000 }
        var notification = LoyaltyCard.Notification()
        if !notice.isEmpty && notice != previous.notice && recent.count < 3 {
            notification.notice = true
            recent.append(now)
        }
        if !message.isEmpty && message != previous.message && recent.count < 3 {
            notification.message = true
            recent.append(now)
        } else if (points != previous.points || (!tier.isEmpty && tier != previous.tier)) && recent.count < 2 {
            notification.onUpdate = true
            recent.append(now)
        }
        return (notification, recent)
    }

    /// A short hash of a class body, to send a class again only when it changed.
    static func hash(_ object: JSONObject) -> String { Digest.hex(Digest.sha256(JSONWriter.bytes(.object(object)))) }
}
