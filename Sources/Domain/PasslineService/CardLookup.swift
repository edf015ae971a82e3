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
