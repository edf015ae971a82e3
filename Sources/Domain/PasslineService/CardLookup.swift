import Foundation
import LoyaltyRules
import PasslineSQL

/// How the front desk finds a card: by what a scanner reads off it, or by a search.
extension Cards {
    /// The cards a scanned code names, in the tenant and mode: the card page's link (its public
    /// token), the serial number, or the member id the barcode carries (one member may hold
    /// cards of several templates). Voided cards come last.
    public func find(tenant: String, mode: CardMode, code raw: String) async throws -> [Card] {
        let code = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !code.isEmpty, code.utf8.count <= 512, !code.utf8.contains(0) else { return [] }
        // A QR of the card page's address: https://…/c/<token>[/…].
        let token = code.range(of: "/c/").map { String(code[$0.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }) }
        let rows = try await database.withConnection { connection -> [SQLRow] in
            if let token, !token.isEmpty {
                return try connection.query("SELECT * FROM cards WHERE public_token = ? AND tenant_id = ? AND mode = ?",
                                            [.text(token), .text(tenant), .text(mode.rawValue)])
            }
            let bySerial = try connection.query("SELECT * FROM cards WHERE tenant_id = ? AND serial_number = ? AND mode = ?",
                                                [.text(tenant), .text(code), .text(mode.rawValue)])
            if !bySerial.isEmpty { return bySerial }
            return try connection.query("SELECT * FROM cards WHERE tenant_id = ? AND member_id = ? AND mode = ? ORDER BY voided, created_at DESC LIMIT 20",
                                        [.text(tenant), .text(code), .text(mode.rawValue)])
        }
        return try rows.map(Self.card)
    }

    /// Cards whose member name contains `query` (any case), whose member id or serial starts
    /// with it, or, for six digits or more, whose fields hold it (a phone number).
    public func search(tenant: String, mode: CardMode, query raw: String, limit: Int = 25) async throws -> [Card] {
        let query = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard query.count >= 2, query.utf8.count <= 200, !query.utf8.contains(0) else { return [] }
        let escaped = query.lowercased().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
        let digits = query.filter(\.isNumber)
        let phone = digits.count >= 6 ? "%\(digits)%" : "\u{0}"
        let rows = try await database.withConnection { connection in
            try connection.query("""
                SELECT * FROM cards WHERE tenant_id = ? AND mode = ? AND (
                    LOWER(member_name) LIKE ? ESCAPE '\\' OR LOWER(member_id) LIKE ? ESCAPE '\\' OR LOWER(serial_number) LIKE ? ESCAPE '\\'
                    OR REPLACE(REPLACE(REPLACE(fields, ' ', ''), '-', ''), '+', '') LIKE ?)
                ORDER BY voided, member_name, serial_number LIMIT ?
                """, [.text(tenant), .text(mode.rawValue), .text("%\(escaped)%"), .text("\(escaped)%"), .text("\(escaped)%"), .text(phone),
                      .int(Int64(min(max(limit, 1), 100)))])
        }
        return try rows.map(Self.card)
    }
}

/// Paging through all of a tenant's cards and ledger: the members list and the CSV exports.
extension Cards {
    /// Cards in `mode` by member name, `limit` from `offset`, and how many there are in all.
    public func members(tenant: String, mode: CardMode, offset: Int, limit: Int) async throws -> (cards: [Card], total: Int64) {
        try await database.withConnection { connection in
            let total = try connection.first("SELECT COUNT(*) AS n FROM cards WHERE tenant_id = ? AND mode = ?", [.text(tenant), .text(mode.rawValue)])?.int("n") ?? 0
            let rows = try connection.query("""
                SELECT * FROM cards WHERE tenant_id = ? AND mode = ? ORDER BY member_name, serial_number LIMIT ? OFFSET ?
                """, [.text(tenant), .text(mode.rawValue), .int(Int64(min(max(limit, 1), 500))), .int(Int64(max(offset, 0)))])
            return (try rows.map(Self.card), total)
        }
    }

    /// The next `limit` cards in `mode` after the serial `after`, by serial: an export's pages.
    public func cards(tenant: String, mode: CardMode, after: String, limit: Int) async throws -> [Card] {
        try await database.withConnection { connection in
            try connection.query("SELECT * FROM cards WHERE tenant_id = ? AND mode = ? AND serial_number > ? ORDER BY serial_number LIMIT ?",
                                 [.text(tenant), .text(mode.rawValue), .text(after), .int(Int64(min(max(limit, 1), 5_000)))]).map(Self.card)
        }
    }

    /// The next `limit` ledger entries of the tenant's cards in `mode`, oldest first, after the
    /// entry (`time`, `id`): an export's pages.
    public func ledgerEntries(tenant: String, mode: CardMode, after: (time: Int64, id: Int64), limit: Int) async throws -> [(serial: String, memberID: String, entry: LedgerEntry)] {
        try await database.withConnection { connection in
            try connection.query("""
                SELECT e.id, e.serial_number, c.member_id, e.points, e.balance_after, e.reason, e.amount, e.created_at, e.type, e.program_version,
                       e.purchase_reference, e.actor
                FROM ledger_entries e JOIN cards c ON c.tenant_id = e.tenant_id AND c.serial_number = e.serial_number
                WHERE e.tenant_id = ? AND c.mode = ? AND (e.created_at > ? OR (e.created_at = ? AND e.id > ?))
                ORDER BY e.created_at, e.id LIMIT ?
                """, [.text(tenant), .text(mode.rawValue), .int(after.time), .int(after.time), .int(after.id), .int(Int64(min(max(limit, 1), 5_000)))]).map { row in
                (try row.string("serial_number"), try row.string("member_id"),
                 LedgerEntry(id: try row.int("id"), points: try row.int("points"), balanceAfter: try row.int("balance_after"), reason: try row.string("reason"),
                             amount: try row.optionalInt("amount"), createdAt: try row.int("created_at"),
                             type: EntryType(rawValue: try row.string("type")) ?? .adjust, programVersion: try row.optionalInt("program_version"),
                             purchaseReference: try row.optionalString("purchase_reference")))
            }
        }
    }
}
