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
            // Only forward: a purchase posted late for an older date shortens nothing, and points
            // that never expire (from before the program) stay so.
            try connection.execute("""
                UPDATE point_lots SET expires_at = ?, reminder_days = ?, reminder_at = ?
                WHERE tenant_id = ? AND serial_number = ? AND remaining > 0 AND expires_at IS NOT NULL AND expires_at < ?
                """, [.int(change.extendsLotsTo!), SQLValue(change.lotReminder?.daysBefore), SQLValue(change.lotReminder?.at),
                      .text(tenant), .text(change.serial), .int(change.extendsLotsTo!)])
            try connection.execute("""
                UPDATE cards SET last_purchase_at = ? WHERE tenant_id = ? AND serial_number = ? AND (last_purchase_at IS NULL OR last_purchase_at < ?)
                """, [.int(now), .text(tenant), .text(change.serial), .int(now)])
        }
        let earnings = changes.filter { $0.points > 0 }
        if !earnings.isEmpty {
            if connection.dialect == .postgres {
                try connection.execute("""
                    INSERT INTO point_lots (tenant_id, serial_number, entry_id, purchase_reference, points, remaining, earned_at, expires_at, reminder_days, reminder_at)
                    SELECT ?, v.serial_number, v.entry, v.reference, v.points, v.points, ?, v.expires, v.days, v.at
                    FROM unnest(?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[])
                         AS v(serial_number, entry, reference, points, expires, days, at)
                    """, [.text(tenant), .int(now), .text(ArrayLiteral.texts(earnings.map(\.serial))),
                          .text(ArrayLiteral.integers(earnings.map { entryIDs[$0.serial] })), .text(ArrayLiteral.texts(earnings.map(\.purchaseReference))),
                          .text(ArrayLiteral.integers(earnings.map(\.points))), .text(ArrayLiteral.integers(earnings.map(\.lotExpiresAt))),
                          .text(ArrayLiteral.integers(earnings.map { $0.lotReminder?.daysBefore })), .text(ArrayLiteral.integers(earnings.map { $0.lotReminder?.at }))])
            } else {
                for change in earnings {
                    try connection.execute("""
                        INSERT INTO point_lots (tenant_id, serial_number, entry_id, purchase_reference, points, remaining, earned_at, expires_at,
                                                reminder_days, reminder_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, [.text(tenant), .text(change.serial), SQLValue(entryIDs[change.serial]), SQLValue(change.purchaseReference),
                              .int(change.points), .int(change.points), .int(now), SQLValue(change.lotExpiresAt),
                              SQLValue(change.lotReminder?.daysBefore), SQLValue(change.lotReminder?.at)])
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

    /// What a tenant's cards in one mode hold, and how much of it expires soon.
    public struct Summary: Sendable, Equatable {
        /// Points on the cards that are not voided, and how many such cards hold any.
        public var outstanding: Int64
        public var cards: Int64
        /// Per window (days from now): points expiring within it, and on how many cards.
        public var expiring: [(days: Int64, points: Int64, cards: Int64)]

        public static func == (a: Summary, b: Summary) -> Bool {
            a.outstanding == b.outstanding && a.cards == b.cards && a.expiring.map(\.days) == b.expiring.map(\.days)
                && a.expiring.map(\.points) == b.expiring.map(\.points) && a.expiring.map(\.cards) == b.expiring.map(\.cards)
        }
    }

    /// The tenant's points in `mode` and what of them expires within each of `windows` days
    /// after `now`; with `template`, only that template's cards.
    public static func summary(tenant: String, mode: CardMode, template: String?, now: Int64, windows: [Int64],
                               on connection: any SQLConnection) throws -> Summary {
        let scope = "l.tenant_id = ? AND c.mode = ? AND c.voided = 0 AND l.remaining > 0\(template == nil ? "" : " AND c.template_id = ?")"
        let binds: [SQLValue] = [.text(tenant), .text(mode.rawValue)] + (template.map { [SQLValue.text($0)] } ?? [])
        let join = "FROM point_lots l JOIN cards c ON c.tenant_id = l.tenant_id AND c.serial_number = l.serial_number"
        let total = try connection.first("""
            SELECT CAST(COALESCE(SUM(l.remaining), 0) AS BIGINT) AS points, COUNT(DISTINCT l.serial_number) AS cards \(join) WHERE \(scope)
            """, binds)
        var summary = Summary(outstanding: try total?.int("points") ?? 0, cards: try total?.int("cards") ?? 0, expiring: [])
        for days in windows {
            let row = try connection.first("""
                SELECT CAST(COALESCE(SUM(l.remaining), 0) AS BIGINT) AS points, COUNT(DISTINCT l.serial_number) AS cards \(join)
                WHERE \(scope) AND l.expires_at > ? AND l.expires_at <= ?
                """, binds + [.int(now), .int(now + days * Timestamp.millisecondsPerDay)])
            summary.expiring.append((days, try row?.int("points") ?? 0, try row?.int("cards") ?? 0))
        }
        return summary
    }

    /// A card with a lot due for something (its expiry, its reminder).
    public struct DueCard: Sendable, Hashable {
        public let tenant: String
        public let mode: CardMode
        public let serial: String
        /// The template it was issued from (which program it follows).
        public let template: String
    }

    /// The moments a lot can fall due at, each a column kept in step with a partial index.
    enum Moment: String {
        case expiry = "expires_at"
        case reminder = "reminder_at"
    }

    /// Cards with a lot whose `moment` has come by `now`, soonest first, at most `limit`: the
    /// cards on the real clock, or those on one test clock. Voided cards take no changes, so
    /// their lots are left as they are.
    static func cardsDue(_ moment: Moment, now: Int64, limit: Int, clock: TestClocks.Key?, on connection: any SQLConnection) throws -> [DueCard] {
        var seen = Set<DueCard>()
        var cards: [DueCard] = []
        let onClock = clock == nil ? "c.test_clock IS NULL" : "c.tenant_id = ? AND c.test_clock = ?"
        let clockValues: [SQLValue] = clock.map { [.text($0.tenant), .text($0.id)] } ?? []
        for row in try connection.query("""
            SELECT l.tenant_id AS tenant_id, c.mode AS mode, l.serial_number AS serial_number, c.template_id AS template_id FROM point_lots l
            JOIN cards c ON c.tenant_id = l.tenant_id AND c.serial_number = l.serial_number
            WHERE l.remaining > 0 AND l.\(moment.rawValue) <= ? AND c.voided = 0 AND \(onClock) ORDER BY l.\(moment.rawValue) LIMIT ?
            """, [.int(now)] + clockValues + [.int(Int64(limit))]) {
            let card = DueCard(tenant: try row.string("tenant_id"), mode: try row.mode("mode"), serial: try row.string("serial_number"),
                               template: try row.string("template_id"))
            if seen.insert(card).inserted { cards.append(card) }
        }
        return cards
    }

    /// When the next lot's `moment` comes (on the real clock, or on one test clock); nil when none
    /// will. Only what `cardsDue` would take counts: a voided card's lots, or a test clock's seen
    /// from the real clock, are never taken, and counting them would wake the scheduler at once,
    /// again and again.
    static func nextDue(_ moment: Moment, clock: TestClocks.Key?, on connection: any SQLConnection) throws -> Int64? {
        let onClock = clock == nil ? "c.test_clock IS NULL" : "c.tenant_id = ? AND c.test_clock = ?"
        let clockValues: [SQLValue] = clock.map { [.text($0.tenant), .text($0.id)] } ?? []
        return try connection.first("""
            SELECT MIN(l.\(moment.rawValue)) AS next FROM point_lots l JOIN cards c ON c.tenant_id = l.tenant_id AND c.serial_number = l.serial_number
            WHERE l.remaining > 0 AND l.\(moment.rawValue) IS NOT NULL AND c.voided = 0 AND \(onClock)
            """, clockValues)?.optionalInt("next")
    }
}

/// Points that reach their expiry: each due lot's remainder becomes an `expire` entry, with
/// the card's new version and its pushes, like any other change.
public enum PointExpiries {
    /// Cards with a lot expired by `now`, soonest first, at most `limit`.
    public static func dueCards(now: Int64, limit: Int, clock: TestClocks.Key? = nil, on connection: any SQLConnection) throws -> [PointLots.DueCard] {
        try PointLots.cardsDue(.expiry, now: now, limit: limit, clock: clock, on: connection)
    }

    /// When the next lot expires; nil when none will.
    public static func nextDue(clock: TestClocks.Key? = nil, on connection: any SQLConnection) throws -> Int64? {
        try PointLots.nextDue(.expiry, clock: clock, on: connection)
    }

    /// Expires what is due by `now` on these cards of one tenant and mode, in the caller's
    /// transaction, which it commits when anything expired. On PostgreSQL a card another
    /// process is changing is skipped (it is still due next time), so processes share the work.
    /// - Parameter look: the program each card follows, whose derived fields (the expiry words,
    ///   the stage, the tier) it gets in the expiry's own version.
    /// - Returns: the cards whose points expired, and how many points.
    public static func expire(tenant: String, mode: CardMode, serials: [String], now: Int64, look: (String) -> Program? = { _ in nil },
                              on connection: any SQLConnection) throws -> (cards: Int, points: Int64) {
        guard !serials.isEmpty else { return (0, 0) }
        let list = Array(repeating: "?", count: serials.count).joined(separator: ", ")
        let locked = try connection.query("""
            SELECT serial_number FROM cards WHERE tenant_id = ? AND mode = ? AND voided = 0 AND serial_number IN (\(list))
            ORDER BY serial_number\(connection.dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : "")
            """, [.text(tenant), .text(mode.rawValue)] + serials.map(SQLValue.text)).map { try $0.string("serial_number") }
        guard !locked.isEmpty else { return (0, 0) }
        var due: [String: [(lot: Int64, points: Int64)]] = [:]
        for row in try connection.query("""
            SELECT id, serial_number, remaining FROM point_lots
            WHERE tenant_id = ? AND remaining > 0 AND expires_at <= ? AND serial_number IN (\(Array(repeating: "?", count: locked.count).joined(separator: ", ")))
            """, [.text(tenant), .int(now)] + locked.map(SQLValue.text)) {
            due[try row.string("serial_number"), default: []].append((try row.int("id"), try row.int("remaining")))
        }
        let changes = locked.compactMap { serial -> Ledger.Change? in
            guard let takes = due[serial], !takes.isEmpty else { return nil }
            var change = Ledger.Change(serial: serial, points: -takes.map(\.points).reduce(0, +), reason: "points expired", amount: nil, actor: "expiry",
                                       idempotencyKey: nil, requestHash: [], type: .expire, takes: takes)
            change.look = look(serial)
            return change
        }
        guard !changes.isEmpty else { return (0, 0) }
        let results = try Ledger.applyBatch(tenant: tenant, mode: mode, changes, now: now, answer: { _, _ in [] }, on: connection)
        var expired = (cards: 0, points: Int64(0))
        for (index, result) in results.enumerated() {
            if case .applied = result { expired.cards += 1; expired.points -= changes[index].points }
        }
        return expired
    }
}

/// Reminders that a lot's points expire: each lot carries its next one (milestone and time),
/// and what was sent is kept per lot and milestone.
public enum PointReminders {
    /// Cards with a reminder due by `now`, soonest first, at most `limit`.
    public static func dueCards(now: Int64, limit: Int, clock: TestClocks.Key? = nil, on connection: any SQLConnection) throws -> [PointLots.DueCard] {
        try PointLots.cardsDue(.reminder, now: now, limit: limit, clock: clock, on: connection)
    }

    public static func nextDue(clock: TestClocks.Key? = nil, on connection: any SQLConnection) throws -> Int64? {
        try PointLots.nextDue(.reminder, clock: clock, on: connection)
    }

    /// A lot whose reminder is due, read under its card's lock.
    public struct DueLot: Sendable {
        public let id: Int64
        public let remaining: Int64
        public let earnedAt: Int64
        public let expiresAt: Int64
        public let daysBefore: Int64
    }

    public static func dueLots(tenant: String, serial: String, now: Int64, on connection: any SQLConnection) throws -> [DueLot] {
        try connection.query("""
            SELECT id, remaining, earned_at, expires_at, reminder_days FROM point_lots
            WHERE tenant_id = ? AND serial_number = ? AND remaining > 0 AND reminder_at <= ? AND expires_at IS NOT NULL AND reminder_days IS NOT NULL
            """, [.text(tenant), .text(serial), .int(now)]).map {
            DueLot(id: try $0.int("id"), remaining: try $0.int("remaining"), earnedAt: try $0.int("earned_at"), expiresAt: try $0.int("expires_at"),
                   daysBefore: try $0.int("reminder_days"))
        }
    }

    /// The milestones already recorded for a lot.
    public static func sent(lot: Int64, on connection: any SQLConnection) throws -> Set<Int64> {
        Set(try connection.query("SELECT days_before FROM lot_reminders WHERE lot_id = ?", [.int(lot)]).map { try $0.int("days_before") })
    }

    /// Records milestones of a lot as sent (or passed over for a nearer one) and sets its next.
    public static func record(tenant: String, serial: String, lot: DueLot, days: [Int64], next: (daysBefore: Int64, at: Int64)?, now: Int64,
                              on connection: any SQLConnection) throws {
        for day in days {
            try connection.execute("""
                INSERT INTO lot_reminders (tenant_id, serial_number, lot_id, days_before, expires_at, points, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """, [.text(tenant), .text(serial), .int(lot.id), .int(day), .int(lot.expiresAt), .int(lot.remaining), .int(now)])
        }
        try connection.execute("UPDATE point_lots SET reminder_days = ?, reminder_at = ? WHERE id = ?",
                               [SQLValue(next?.daysBefore), SQLValue(next?.at), .int(lot.id)])
    }

    /// Drops the pending reminders of a card's lots (no program, or a voided card).
    public static func cancel(tenant: String, serial: String, on connection: any SQLConnection) throws {
        try connection.execute("UPDATE point_lots SET reminder_days = NULL, reminder_at = NULL WHERE tenant_id = ? AND serial_number = ? AND reminder_at IS NOT NULL",
                               [.text(tenant), .text(serial)])
    }

    public struct Sent: Sendable, Equatable {
        public let daysBefore: Int64
        public let expiresAt: Int64
        public let points: Int64
        public let sentAt: Int64
    }

    /// The reminders sent for a card's lots, newest first.
    public static func history(tenant: String, serial: String, limit: Int, on connection: any SQLConnection) throws -> [Sent] {
        try connection.query("""
            SELECT days_before, expires_at, points, sent_at FROM lot_reminders WHERE tenant_id = ? AND serial_number = ?
            ORDER BY sent_at DESC, days_before LIMIT ?
            """, [.text(tenant), .text(serial), .int(Int64(limit))]).map {
            Sent(daysBefore: try $0.int("days_before"), expiresAt: try $0.int("expires_at"), points: try $0.int("points"), sentAt: try $0.int("sent_at"))
        }
    }
}
