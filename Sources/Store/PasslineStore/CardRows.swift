import LoyaltyRules
import PasslineSQL

/// A card's row: made at version 1 with its first tag; marked changed with a new version and tag.
/// The changes with rules and consequences are `Ledger`'s and `CardChanges`'.
public enum CardRows {
    /// A new card, at version 1, with a fresh update tag.
    public struct NewCard: Sendable {
        public var serialNumber: String, templateID: String, mode: CardMode, memberID: String, memberName: String
        public var authenticationToken: String, publicToken: String, fieldsJSON: String, points: Int64
        /// When the opening balance's lot expires (nil: never).
        public var pointsExpireAt: Int64?
        /// The opening balance's first expiry reminder (milestone, when).
        public var pointsReminder: (daysBefore: Int64, at: Int64)?
        /// The test clock the card lives on (test mode only).
        public var testClock: String?
        /// The card's wallet options as JSON; nil: the template's.
        public var walletJSON: String?
        public init(serialNumber: String, templateID: String, mode: CardMode = .live, memberID: String, memberName: String,
                    authenticationToken: String, publicToken: String, fieldsJSON: String = "{}", points: Int64, pointsExpireAt: Int64? = nil,
                    pointsReminder: (daysBefore: Int64, at: Int64)? = nil, testClock: String? = nil, walletJSON: String? = nil) {
            self.walletJSON = walletJSON
            self.serialNumber = serialNumber; self.templateID = templateID; self.mode = mode; self.memberID = memberID
            self.memberName = memberName; self.authenticationToken = authenticationToken; self.publicToken = publicToken
            self.fieldsJSON = fieldsJSON; self.points = points; self.pointsExpireAt = pointsExpireAt; self.pointsReminder = pointsReminder
            self.testClock = testClock
        }
    }

    public static func insert(_ card: NewCard, tenant: String, now: Int64, on connection: any SQLConnection) throws {
        try TextRules.check(card.serialNumber, field: "serialNumber", maxLength: 128)
        try TextRules.check(card.memberID, field: "memberId", maxLength: 256)
        try TextRules.check(card.memberName, field: "memberName", maxLength: 256)
        try TextRules.check(card.fieldsJSON, field: "fields", maxLength: 65_536)
        do {
            try connection.execute("""
                INSERT INTO cards (tenant_id, serial_number, template_id, mode, member_id, member_name, authentication_token,
                                   public_token, fields, points, version, update_tag, created_at, updated_at, test_clock, wallet)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?, ?, ?)
                """, [.text(tenant), .text(card.serialNumber), .text(card.templateID), .text(card.mode.rawValue), .text(card.memberID),
                      .text(card.memberName), .text(card.authenticationToken), .text(card.publicToken), .text(card.fieldsJSON),
                      .int(card.points), .int(now), .int(now), SQLValue(card.testClock), SQLValue(card.walletJSON)])
        } catch let error as SQLError where error.code == .uniqueViolation {
            throw DomainError(.conflict, "The tenant has a card with serial number \(card.serialNumber) already.")
        } catch let error as SQLError where error.code == .foreignKeyViolation {
            throw DomainError(.notFound, "Template \(card.templateID) does not exist for this tenant.")
        }
        if card.points > 0 {
            // The opening balance is an entry and a lot like any other: the balance is the sum of
            // the ledger and of the lots.
            let entry = try connection.first("""
                INSERT INTO ledger_entries (tenant_id, serial_number, points, balance_after, reason, created_at, type)
                VALUES (?, ?, ?, ?, 'opening balance', ?, 'adjust') RETURNING id
                """, [.text(tenant), .text(card.serialNumber), .int(card.points), .int(card.points), .int(now)])!
            try connection.execute("""
                INSERT INTO point_lots (tenant_id, serial_number, entry_id, points, remaining, earned_at, expires_at, reminder_days, reminder_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(tenant), .text(card.serialNumber), .int(try entry.int("id")), .int(card.points), .int(card.points), .int(now),
                      SQLValue(card.pointsExpireAt), SQLValue(card.pointsReminder?.daysBefore), SQLValue(card.pointsReminder?.at)])
        }
        try GoogleSync.enqueue(tenant: tenant, serial: card.serialNumber, mode: card.mode, now: now, on: connection)
        try connection.execute("""
            INSERT INTO card_counts (tenant_id, mode, n) VALUES (?, ?, 1) ON CONFLICT (tenant_id, mode) DO UPDATE SET n = card_counts.n + 1
            """, [.text(tenant), .text(card.mode.rawValue)])
        _ = try UpdateTags.stamp(tenant: tenant, serial: card.serialNumber, on: connection)
    }

    /// Marks a card changed: a new version and a new update tag. Returns (version, tag).
    /// The card row is locked first and the tag taken last, as `UpdateTags` asks.
    public static func recordChange(tenant: String, serial: String, now: Int64, on connection: any SQLConnection) throws -> (version: Int64, tag: Int64) {
        guard let row = try connection.first("""
            UPDATE cards SET version = version + 1, updated_at = ?
            WHERE tenant_id = ? AND serial_number = ? RETURNING version
            """, [.int(now), .text(tenant), .text(serial)]) else {
            throw DomainError(.notFound, "Card \(serial) does not exist for this tenant.")
        }
        let tag = try UpdateTags.stamp(tenant: tenant, serial: serial, on: connection)
        return (try row.int("version"), tag)
    }
}
