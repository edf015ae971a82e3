import PasslineJSON

/// A change to a card's field values: new values merged over the card's, and optionally a
/// message to its holder. One card's message and a campaign over a template's cards are both one.
public struct CardFieldsChange: Sendable, Equatable {
    /// Merged into each card's fields (the other fields stay).
    public var fields: JSONObject
    /// Written into the card's `message` field (see `MessageField`).
    public var message: String?

    public init(fields: JSONObject = JSONObject(), message: String? = nil) {
        self.fields = fields
        self.message = message
    }

    /// What a campaign of this change is called in its reports.
    public var kind: String { message != nil ? "message" : fields.members.isEmpty ? "reissue" : "fields" }

    /// - Throws: `DomainError.invalid` for a message no card may show.
    public func validate() throws {
        if let message { try TextRules.check(message, field: "message", maxLength: MessageField.maxLength) }
    }

    /// The card's fields after the change.
    public func apply(to current: JSONObject) -> JSONObject {
        var result = current
        for member in fields.members { result[member.key] = member.value }
        if let message { result[MessageField.key] = .string(MessageField.value(message, replacing: result[MessageField.key]?.stringValue)) }
        return result
    }
}

/// A message to a card's holder. A push carries no text: Wallet shows a changed field's
/// `changeMessage` on the lock screen, so a message is written into a back field whose
/// `changeMessage` is `%@` (the loyalty template's `news`, filled from the `message` value).
public enum MessageField {
    public static let key = "message"
    public static let maxLength = 2_000
    /// Appended to alternate sends of the same text. Wallet notifies only when a value changes,
    /// so "Double points this weekend" sent twice must differ the second time; a word joiner
    /// (U+2060) is invisible on the lock screen and on the back of the pass.
    static let mark: Character = "\u{2060}"

    /// The value to store for `message` when the card currently holds `current`.
    public static func value(_ message: String, replacing current: String?) -> String {
        var plain = message
        while plain.last == mark { plain.removeLast() }
        guard let current else { return plain }
        return current == plain ? plain + String(mark) : plain
    }
}
