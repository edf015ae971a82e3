import LoyaltyRules
import PasslineSQL

/// Changes to a card other than its balance: its data, a reissue, voiding. Each makes a new
/// version with a new update tag and a push to every registered device, in the caller's
/// transaction. The serial number and authentication token never change: Apple forbids it.
public enum CardChanges {
    public struct Change: Sendable {
        public var memberName: String?
        /// The card's fields as JSON, replacing the old ones.
        public var fieldsJSON: String?
        public var voided: Bool?
        /// The card's wallet options as JSON, replacing the old ones ("" clears them).
        public var walletJSON: String?
        /// When the member signed up through Wallet's form; kept once set.
        public var personalizedAt: Int64?
        public init(memberName: String? = nil, fieldsJSON: String? = nil, voided: Bool? = nil, walletJSON: String? = nil, personalizedAt: Int64? = nil) {
            self.personalizedAt = personalizedAt
            self.memberName = memberName
            self.fieldsJSON = fieldsJSON
            self.voided = voided
            self.walletJSON = walletJSON
        }
    }

    /// Applies a change (an empty one is a reissue) and returns (version, tag, pushes).
    /// - Throws: `DomainError.notFound` for a card the tenant does not have in that mode,
    ///   `.conflict` for changing a voided card, `.invalid` for bad values.
    public static func apply(_ change: Change, tenant: String, mode: CardMode, serial: String, now: Int64,
                             on connection: any SQLConnection) throws -> (version: Int64, tag: Int64, pushes: Int) {
        if let name = change.memberName { try TextRules.check(name, field: "memberName", maxLength: 256) }
        if let fields = change.fieldsJSON { try TextRules.check(fields, field: "fields", maxLength: 65_536) }
        if let wallet = change.walletJSON { try TextRules.check(wallet, field: "wallet options", maxLength: 16_384) }
        guard let current = try connection.first("SELECT voided FROM cards WHERE tenant_id = ? AND serial_number = ? AND mode = ?",
                                                  [.text(tenant), .text(serial), .text(mode.rawValue)]) else {
            throw DomainError(.notFound, "No card \(serial).")
        }
        if try current.bool("voided") { throw DomainError(.conflict, "Card \(serial) is voided; it cannot change any more.") }
        let row = try connection.first("""
            UPDATE cards SET version = version + 1, updated_at = ?, member_name = COALESCE(?, member_name),
                             fields = COALESCE(?, fields), voided = COALESCE(?, voided), wallet = COALESCE(?, wallet),
                             personalized_at = COALESCE(personalized_at, ?)
            WHERE tenant_id = ? AND serial_number = ? AND mode = ? RETURNING version
            """, [.int(now), SQLValue(change.memberName), SQLValue(change.fieldsJSON), change.voided.map { SQLValue($0) } ?? .null,
                  SQLValue(change.walletJSON), change.personalizedAt.map(SQLValue.int) ?? .null, .text(tenant), .text(serial), .text(mode.rawValue)])!
        let pushes = try Consequences.write(.singleChange, tenant: tenant, serials: [serial], mode: mode, now: now, on: connection).values.reduce(0, +)
        try Events.cardChanged(tenant: tenant, mode: mode, serial: serial, voided: change.voided == true, now: now, on: connection)
        let tag = try UpdateTags.stamp(tenant: tenant, serial: serial, on: connection)
        return (try row.int("version"), tag, pushes)
    }
}
