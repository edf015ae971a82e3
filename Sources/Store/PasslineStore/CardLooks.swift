import LoyaltyRules
import PasslineJSON
import PasslineSQL

/// Keeps the fields a program derives for a card (`CardLook`) in step with its points, inside
/// the change that moved them: one version, one push, whatever changed.
public enum CardLooks {
    /// Redraws the derived fields of these cards of one tenant, in the caller's transaction,
    /// which holds their rows' locks. No new version: the caller's change makes it.
    /// - Returns: the cards whose fields changed.
    @discardableResult
    public static func refresh(tenant: String, serials: [String], program: Program, now: Int64, on connection: any SQLConnection) throws -> Set<String> {
        guard !serials.isEmpty else { return [] }
        let list = Array(repeating: "?", count: serials.count).joined(separator: ", ")
        let current = try connection.query("SELECT serial_number, fields FROM cards WHERE tenant_id = ? AND serial_number IN (\(list))",
                                           [.text(tenant)] + serials.map(SQLValue.text))
        let lots = try PointLots.open(tenant: tenant, serials: serials, on: connection)
        var earned: [String: Int64] = [:]
        if let tiers = program.tiers {
            // Refunds in the window take back what their purchases earned there.
            for row in try connection.query("""
                SELECT serial_number, CAST(SUM(points) AS BIGINT) AS earned FROM ledger_entries
                WHERE tenant_id = ? AND serial_number IN (\(list)) AND type IN ('earn', 'refund') AND created_at >= ? GROUP BY serial_number
                """, [.text(tenant)] + serials.map(SQLValue.text) + [.int(tiers.windowStart(now: now))]) {
                earned[try row.string("serial_number")] = try row.optionalInt("earned") ?? 0
            }
        }
        var changed: [(serial: String, fields: String)] = []
        for row in current {
            let serial = try row.string("serial_number")
            let before = (try? JSONParser.parse(Array(try row.string("fields").utf8)))?.objectValue ?? JSONObject()
            let after = CardLook.fields(before, lots: lots[serial] ?? [], earnedInWindow: program.tiers == nil ? nil : earned[serial] ?? 0,
                                        now: now, program: program)
            if after != before { changed.append((serial, JSONWriter.string(.object(after)))) }
        }
        if connection.dialect == .postgres, changed.count > 1 {
            try connection.execute("""
                UPDATE cards AS c SET fields = v.fields FROM unnest(?::text[], ?::text[]) AS v(serial_number, fields)
                WHERE c.tenant_id = ? AND c.serial_number = v.serial_number
                """, [.text(ArrayLiteral.texts(changed.map(\.serial))), .text(ArrayLiteral.texts(changed.map(\.fields))), .text(tenant)])
        } else {
            for card in changed {
                try connection.execute("UPDATE cards SET fields = ? WHERE tenant_id = ? AND serial_number = ?", [.text(card.fields), .text(tenant), .text(card.serial)])
            }
        }
        return Set(changed.map(\.serial))
    }
}
