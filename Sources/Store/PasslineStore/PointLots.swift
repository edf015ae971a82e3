import LoyaltyRules
import PasslineSQL

/// The lots behind each balance. Every statement here runs inside a ledger change, after the
/// card's balance update has locked its row, so two changes never take from one lot at once.
public enum PointLots {
    /// Writes the lots of applied changes: a lot for each earning, the takes of each spending.
    /// - Throws: `DomainError.conflict` when a card's lots hold less than its balance said
    ///   (the books are out of step); the whole change rolls back.
    static func write(tenant: String, _ changes: [Ledger.Change], entryIDs: [String: Int64], now: Int64, on connection: any SQLConnection) throws {
        guard !changes.isEmpty else { return }
        for change in changes where change.extendsLotsTo != nil {
            try connection.execute("UPDATE point_lots SET expires_at = ? WHERE tenant_id = ? AND serial_number = ? AND remaining > 0",
                                   [.int(change.extendsLotsTo!), .text(tenant), .text(change.serial)])
            try connection.execute("UPDATE cards SET last_purchase_at = ? WHERE tenant_id = ? AND serial_number = ?",
                                   [.int(now), .text(tenant), .text(change.serial)])
        }
        let earnings = changes.filter { $0.points > 0 }
        if !earnings.isEmpty {
            if connection.dialect == .postgres {
                try connection.execute("""
                    INSERT INTO point_lots (tenant_id, serial_number, entry_id, purchase_reference, points, remaining, earned_at, expires_at)
                    SELECT ?, v.serial_number, v.entry, v.reference, v.points, v.points, ?, v.expires
                    FROM unnest(?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[]) AS v(serial_number, entry, reference, points, expires)
                    """, [.text(tenant), .int(now), .text(ArrayLiteral.texts(earnings.map(\.serial))),
                          .text(ArrayLiteral.integers(earnings.map { entryIDs[$0.serial] })), .text(ArrayLiteral.texts(earnings.map(\.purchaseReference))),
                          .text(ArrayLiteral.integers(earnings.map(\.points))), .text(ArrayLiteral.integers(earnings.map(\.lotExpiresAt)))])
            } else {
                for change in earnings {
                    try connection.execute("""
                        INSERT INTO point_lots (tenant_id, serial_number, entry_id, purchase_reference, points, remaining, earned_at, expires_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, [.text(tenant), .text(change.serial), SQLValue(entryIDs[change.serial]), SQLValue(change.purchaseReference),
                              .int(change.points), .int(change.points), .int(now), SQLValue(change.lotExpiresAt)])
                }
            }
        }
        let spendings = changes.filter { $0.points < 0 }
        guard !spendings.isEmpty else { return }
        var takes: [(lot: Int64, points: Int64)] = spendings.flatMap { $0.takes ?? [] }
        let free = spendings.filter { $0.takes == nil }
        if !free.isEmpty {
            let lots = try open(tenant: tenant, serials: free.map(\.serial), on: connection)
            for change in free {
                let taken = LotAccounting.take(-change.points, from: lots[change.serial] ?? [])
                guard taken.map(\.taken).reduce(0, +) == -change.points else {
                    throw DomainError(.conflict, "The points of card \(change.serial) are out of step with its lots; nothing was changed.")
                }
                takes += taken.map { (lot: $0.id, points: $0.taken) }
            }
        }
        guard !takes.isEmpty else { return }
        let changed: Int
        if connection.dialect == .postgres {
            changed = try connection.execute("""
                UPDATE point_lots AS l SET remaining = l.remaining - v.points
                FROM unnest(?::bigint[], ?::bigint[]) AS v(id, points)
                WHERE l.id = v.id AND l.tenant_id = ? AND l.remaining >= v.points
                """, [.text(ArrayLiteral.integers(takes.map(\.lot))), .text(ArrayLiteral.integers(takes.map(\.points))), .text(tenant)])
        } else {
            var count = 0
            for take in takes {
                count += try connection.execute("UPDATE point_lots SET remaining = remaining - ? WHERE id = ? AND tenant_id = ? AND remaining >= ?",
                                                [.int(take.points), .int(take.lot), .text(tenant), .int(take.points)])
            }
            changed = count
        }
        guard changed == takes.count else {
            throw DomainError(.conflict, "A lot no longer holds the points taken from it; nothing was changed.")
        }
    }

    /// The open lots of these cards, by card.
    static func open(tenant: String, serials: [String], on connection: any SQLConnection) throws -> [String: [PointLot]] {
        var lots: [String: [PointLot]] = [:]
        let rows = try connection.query("""
            SELECT id, serial_number, remaining, expires_at FROM point_lots
            WHERE tenant_id = ? AND remaining > 0 AND serial_number IN (\(Array(repeating: "?", count: serials.count).joined(separator: ", ")))
            """, [.text(tenant)] + serials.map(SQLValue.text))
        for row in rows {
            lots[try row.string("serial_number"), default: []].append(PointLot(id: try row.int("id"), remaining: try row.int("remaining"),
                                                                                expiresAt: try row.optionalInt("expires_at")))
        }
        return lots
    }

    /// One lot as the API shows it.
    public struct Lot: Sendable, Equatable {
        public let id: Int64
        public let points: Int64
        public let remaining: Int64
        public let earnedAt: Int64
        public let expiresAt: Int64?
        public let purchaseReference: String?
    }

    /// A card's lots with points left, soonest expiry first.
    public static func open(tenant: String, serial: String, on connection: any SQLConnection) throws -> [Lot] {
        let lots = try connection.query("""
            SELECT id, points, remaining, earned_at, expires_at, purchase_reference FROM point_lots
            WHERE tenant_id = ? AND serial_number = ? AND remaining > 0
            """, [.text(tenant), .text(serial)]).map { row in
            Lot(id: try row.int("id"), points: try row.int("points"), remaining: try row.int("remaining"), earnedAt: try row.int("earned_at"),
                expiresAt: try row.optionalInt("expires_at"), purchaseReference: try row.optionalString("purchase_reference"))
        }
        let order = LotAccounting.order(lots.map { PointLot(id: $0.id, remaining: $0.remaining, expiresAt: $0.expiresAt) }).map(\.id)
        let byID = Dictionary(uniqueKeysWithValues: lots.map { ($0.id, $0) })
        return order.compactMap { byID[$0] }
    }
}
