import LoyaltyRules
import PasslineSQL

/// Many points changes of one tenant in one transaction.
///
/// A tenant's changes all take its update tag, whose row stays locked until COMMIT; one at a
/// time, a busy tenant's changes queue on that lock and on their own round trips. Applied
/// together, the batch takes the tag once and runs a fixed number of statements (on
/// PostgreSQL each carries the whole batch through `unnest`), whatever its size.
extension Ledger {
    /// One change of a batch, already checked with `validate`.
    public struct Change: Sendable, Equatable {
        public let serial: String
        public let points: Int64
        public let reason: String
        public let amount: Int64?
        public let actor: String?
        /// The request's `Idempotency-Key` and the hash of what it asked, to store its answer under.
        public let idempotencyKey: String?
        public let requestHash: [UInt8]
        public var type: EntryType
        /// Earning: when the new lot expires (nil: never).
        public var lotExpiresAt: Int64?
        /// Earning under "expire N days after the last purchase": every open lot of the card
        /// moves to this expiry, and the card's last purchase to now.
        public var extendsLotsTo: Int64?
        public var programVersion: Int64?
        public var purchaseReference: String?
        /// Taking points: from these lots, exactly (a refund's own lot, an expiry's due lots);
        /// nil takes them soonest-expiring first (`LotAccounting.take`). The caller holds the
        /// card's row lock when it read them.
        public var takes: [(lot: Int64, points: Int64)]?
        /// The reward a redemption took, counted against its limit per member.
        public var rewardID: String?
        /// Earning: the new lot's first reminder (milestone, when). Extending: the moved lots'.
        public var lotReminder: (daysBefore: Int64, at: Int64)?
        /// The program the card follows, whose derived fields (`CardLook`: expiry words and
        /// stage, tier) the card gets in this change's version; nil leaves its fields alone.
        public var look: Program?

        public init(serial: String, points: Int64, reason: String, amount: Int64?, actor: String?, idempotencyKey: String?, requestHash: [UInt8],
                    type: EntryType? = nil, lotExpiresAt: Int64? = nil, extendsLotsTo: Int64? = nil, programVersion: Int64? = nil,
                    purchaseReference: String? = nil, takes: [(lot: Int64, points: Int64)]? = nil, rewardID: String? = nil) {
            self.serial = serial; self.points = points; self.reason = reason; self.amount = amount; self.actor = actor
            self.idempotencyKey = idempotencyKey; self.requestHash = requestHash
            self.type = type ?? EntryType.ofTransaction(points: points)
            self.lotExpiresAt = lotExpiresAt; self.extendsLotsTo = extendsLotsTo; self.programVersion = programVersion
            self.purchaseReference = purchaseReference; self.takes = takes; self.rewardID = rewardID
        }

        public static func == (a: Change, b: Change) -> Bool {
            a.serial == b.serial && a.points == b.points && a.reason == b.reason && a.amount == b.amount && a.actor == b.actor
                && a.idempotencyKey == b.idempotencyKey && a.requestHash == b.requestHash && a.type == b.type && a.lotExpiresAt == b.lotExpiresAt
                && a.extendsLotsTo == b.extendsLotsTo && a.programVersion == b.programVersion && a.purchaseReference == b.purchaseReference
                && a.takes?.map(\.lot) == b.takes?.map(\.lot) && a.takes?.map(\.points) == b.takes?.map(\.points) && a.rewardID == b.rewardID
                && a.lotReminder?.daysBefore == b.lotReminder?.daysBefore && a.lotReminder?.at == b.lotReminder?.at && a.look == b.look
        }
    }

    /// What became of one change of a batch.
    public enum BatchResult: Sendable, Equatable {
        /// Applied; with an idempotency key, its answer is stored.
        case applied(Outcome, answer: [UInt8])
        /// Not applied, and why: no such card in the mode (`.notFound`), a voided card, or a
        /// balance that would go below zero or past the most a card holds (`.conflict`).
        /// Nothing of it was written.
        case refused(DomainError)
        /// Not applied: another request already holds its idempotency key.
        case keyTaken
    }

    /// Applies `changes` (distinct cards, distinct idempotency keys) to cards of the tenant in
    /// `mode`, in the caller's transaction, and commits it when anything was applied.
    ///
    /// In order: the idempotency keys are reserved (a key another request holds makes its
    /// change `.keyTaken`), the balances updated where they allow it, the ledger entries
    /// written, one push job per registered device and the Google syncs enqueued, `answer`
    /// rendered and stored for each keyed change, and last the tag taken for every changed
    /// card at once, sent with the COMMIT. Nothing may use the connection afterwards.
    /// - Parameter answer: the response body of an applied change, stored with its key.
    /// - Parameter beforeCommit: runs last before the COMMIT, with the results (a purchase stores its answer).
    public static func applyBatch(tenant: String, mode: CardMode, _ changes: [Change], now: Int64,
                                  answer: (Int, Outcome) -> [UInt8], beforeCommit: ([BatchResult]) throws -> Void = { _ in },
                                  on connection: any SQLConnection) throws -> [BatchResult] {
        // Every change not a candidate had its key taken; every candidate is applied or refused below.
        var results = [BatchResult](repeating: .keyTaken, count: changes.count)
        let reserved = try reserveKeys(tenant: tenant, changes, now: now, on: connection)
        let candidates = changes.indices.filter { changes[$0].idempotencyKey == nil || reserved.contains($0) }

        let balances = try updateBalances(tenant: tenant, mode: mode, candidates.map { changes[$0] }, now: now, on: connection)
        let applied = candidates.filter { balances[changes[$0].serial] != nil }
        for index in candidates where balances[changes[index].serial] == nil {
            results[index] = .refused(try refusal(tenant: tenant, mode: mode, changes[index], on: connection))
        }
        let entryIDs = try insertEntries(tenant: tenant, applied.map { changes[$0] }, balances: balances, now: now, on: connection)
        try PointLots.write(tenant: tenant, applied.map { changes[$0] }, entryIDs: entryIDs, now: now, on: connection)
        let serials = applied.map { changes[$0].serial }
        // The cards of a batch follow a program or two (the tenant's, a template's): one refresh each.
        var looks: [(program: Program, serials: [String])] = []
        for change in applied.map({ changes[$0] }) {
            guard let program = change.look else { continue }
            if let index = looks.firstIndex(where: { $0.program == program }) { looks[index].serials.append(change.serial) } else { looks.append((program, [change.serial])) }
        }
        for look in looks { try CardLooks.refresh(tenant: tenant, serials: look.serials, program: look.program, now: now, on: connection) }
        let pushes = try Consequences.write(.singleChange, tenant: tenant, serials: serials, mode: mode, now: now, on: connection)

        var answers: [(key: String, body: [UInt8])] = []
        for index in applied {
            let change = changes[index]
            let (points, version) = balances[change.serial]!
            let outcome = Outcome(entry: Entry(id: entryIDs[change.serial]!, points: change.points, balanceAfter: points, reason: change.reason,
                                               amount: change.amount, createdAt: now, type: change.type, programVersion: change.programVersion,
                                               purchaseReference: change.purchaseReference),
                                  points: points, version: version, pushes: pushes[change.serial] ?? 0)
            let body = answer(index, outcome)
            results[index] = .applied(outcome, answer: body)
            if let key = change.idempotencyKey { answers.append((key, body)) }
        }
        try Events.emit(tenant: tenant, mode: mode, now: now, on: connection) {
            applied.flatMap { index -> [DomainEvent] in
                let change = changes[index]
                let (points, version) = balances[change.serial]!
                var events = [DomainEvent.transaction(serial: change.serial, entryID: entryIDs[change.serial]!, type: change.type, points: change.points,
                                                      balanceAfter: points, reason: change.reason, amount: change.amount, createdAt: now, version: version,
                                                      programVersion: change.programVersion, purchaseReference: change.purchaseReference)]
                if let reward = change.rewardID {
                    events.append(.rewardRedeemed(reward: reward, serial: change.serial, cost: -change.points, reason: change.reason, balanceAfter: points,
                                                  entryID: entryIDs[change.serial]!))
                }
                return events
            }
        }
        // A key reserved for a change that did not apply is given back: only answers are stored.
        let unused = candidates.filter { balances[changes[$0].serial] == nil }.compactMap { changes[$0].idempotencyKey }
        try storeAnswers(tenant: tenant, answers, releasing: unused, on: connection)
        try beforeCommit(results)
        if !serials.isEmpty {
            try UpdateTags.stampThenCommit(tenant: tenant, serials: serials, on: connection)
        }
        return results
    }

    /// Why a change the balances' update left out was not applied: read only for those, which
    /// are rare (a client's mistake), so the update itself stays one statement.
    private static func refusal(tenant: String, mode: CardMode, _ change: Change, on connection: any SQLConnection) throws -> DomainError {
        guard let card = try connection.first("SELECT points, voided FROM cards WHERE tenant_id = ? AND serial_number = ? AND mode = ?",
                                              [.text(tenant), .text(change.serial), .text(mode.rawValue)]) else {
            return DomainError(.notFound, "No card \(change.serial).")
        }
        return PointsRules.refusal(serial: change.serial, balance: try card.int("points"), voided: try card.bool("voided"), points: change.points)
    }

    /// Inserts a placeholder answer for every keyed change; returns the indices whose key was free.
    /// A key another transaction is inserting makes this wait for it, as a unique index does.
    private static func reserveKeys(tenant: String, _ changes: [Change], now: Int64,
                                    on connection: any SQLConnection) throws -> Set<Int> {
        let dialect = connection.dialect
        let keyed = changes.indices.filter { changes[$0].idempotencyKey != nil }
        guard !keyed.isEmpty else { return [] }
        try Idempotency.dropExpired(tenant: tenant, keys: keyed.map { changes[$0].idempotencyKey! }, now: now, on: connection)
        if dialect == .postgres {
            let rows = try connection.query("""
                INSERT INTO idempotency_records (tenant_id, key, request_hash, response_status, response_body, created_at)
                SELECT ?, v.key, decode(v.hash, 'hex'), 201, ''::bytea, ? FROM unnest(?::text[], ?::text[]) AS v(key, hash)
                ON CONFLICT DO NOTHING RETURNING key
                """, [.text(tenant), .int(now), .text(ArrayLiteral.texts(keyed.map { changes[$0].idempotencyKey! })),
                      .text(ArrayLiteral.hex(keyed.map { changes[$0].requestHash }))])
            let inserted = Set(try rows.map { try $0.string("key") })
            return Set(keyed.filter { inserted.contains(changes[$0].idempotencyKey!) })
        }
        var reserved = Set<Int>()
        for index in keyed {
            let change = changes[index]
            let count = try connection.execute("""
                INSERT INTO idempotency_records (tenant_id, key, request_hash, response_status, response_body, created_at)
                VALUES (?, ?, ?, 201, ?, ?) ON CONFLICT DO NOTHING
                """, [.text(tenant), .text(change.idempotencyKey!), .blob(change.requestHash), .blob([]), .int(now)])
            if count == 1 { reserved.insert(index) }
        }
        return reserved
    }

    /// Adds each change's points where the card exists in `mode` and `PointsRules.allows` it,
    /// tested in the update itself, under the row's lock; returns the new balance and version
    /// of each card changed.
    private static func updateBalances(tenant: String, mode: CardMode, _ changes: [Change], now: Int64,
                                       on connection: any SQLConnection) throws -> [String: (points: Int64, version: Int64)] {
        let dialect = connection.dialect
        guard !changes.isEmpty else { return [:] }
        var balances: [String: (points: Int64, version: Int64)] = [:]
        if dialect == .postgres {
            // Cards are locked in serial order, as every batch locks them, so two batches
            // sharing cards wait for each other instead of deadlocking.
            let sorted = changes.sorted { $0.serial < $1.serial }
            let rows = try connection.query("""
                UPDATE cards AS c SET points = c.points + v.points, version = c.version + 1, updated_at = ?
                FROM (SELECT * FROM unnest(?::text[], ?::bigint[]) AS u(serial_number, points) ORDER BY serial_number) AS v
                WHERE c.tenant_id = ? AND c.serial_number = v.serial_number AND c.mode = ? AND c.voided = 0 AND c.points + v.points BETWEEN ? AND ?
                RETURNING c.serial_number AS serial_number, c.points AS points, c.version AS version
                """, [.int(now), .text(ArrayLiteral.texts(sorted.map(\.serial))), .text(ArrayLiteral.integers(sorted.map(\.points))),
                      .text(tenant), .text(mode.rawValue), .int(PointsRules.balances.lowerBound), .int(PointsRules.balances.upperBound)])
            for row in rows { balances[try row.string("serial_number")] = (try row.int("points"), try row.int("version")) }
            return balances
        }
        for change in changes {
            guard let row = try connection.first("""
                UPDATE cards SET points = points + ?, version = version + 1, updated_at = ?
                WHERE tenant_id = ? AND serial_number = ? AND mode = ? AND points + ? BETWEEN ? AND ? AND voided = 0
                RETURNING points, version
                """, [.int(change.points), .int(now), .text(tenant), .text(change.serial), .text(mode.rawValue), .int(change.points),
                      .int(PointsRules.balances.lowerBound), .int(PointsRules.balances.upperBound)]) else { continue }
            balances[change.serial] = (try row.int("points"), try row.int("version"))
        }
        return balances
    }

    /// Writes the ledger entries of the applied changes; returns each card's entry id.
    private static func insertEntries(tenant: String, _ changes: [Change], balances: [String: (points: Int64, version: Int64)],
                                      now: Int64, on connection: any SQLConnection) throws -> [String: Int64] {
        let dialect = connection.dialect
        guard !changes.isEmpty else { return [:] }
        var ids: [String: Int64] = [:]
        if dialect == .postgres {
            let rows = try connection.query("""
                INSERT INTO ledger_entries (tenant_id, serial_number, points, balance_after, reason, amount, idempotency_key, actor, created_at,
                                            type, program_version, purchase_reference, reward_id)
                SELECT ?, v.serial_number, v.points, v.balance, v.reason, v.amount, v.key, v.actor, ?, v.type, v.version, v.reference, v.reward
                FROM unnest(?::text[], ?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[])
                     AS v(serial_number, points, balance, reason, amount, key, actor, type, version, reference, reward)
                RETURNING id, serial_number
                """, [.text(tenant), .int(now),
                      .text(ArrayLiteral.texts(changes.map(\.serial))), .text(ArrayLiteral.integers(changes.map(\.points))),
                      .text(ArrayLiteral.integers(changes.map { balances[$0.serial]!.points })), .text(ArrayLiteral.texts(changes.map(\.reason))),
                      .text(ArrayLiteral.integers(changes.map(\.amount))), .text(ArrayLiteral.texts(changes.map(\.idempotencyKey))),
                      .text(ArrayLiteral.texts(changes.map(\.actor))), .text(ArrayLiteral.texts(changes.map(\.type.rawValue))),
                      .text(ArrayLiteral.integers(changes.map(\.programVersion))), .text(ArrayLiteral.texts(changes.map(\.purchaseReference))),
                      .text(ArrayLiteral.texts(changes.map(\.rewardID)))])
            for row in rows { ids[try row.string("serial_number")] = try row.int("id") }
            return ids
        }
        for change in changes {
            let row = try connection.first("""
                INSERT INTO ledger_entries (tenant_id, serial_number, points, balance_after, reason, amount, idempotency_key, actor, created_at,
                                            type, program_version, purchase_reference, reward_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
                """, [.text(tenant), .text(change.serial), .int(change.points), .int(balances[change.serial]!.points), .text(change.reason),
                      SQLValue(change.amount), SQLValue(change.idempotencyKey), SQLValue(change.actor), .int(now),
                      .text(change.type.rawValue), SQLValue(change.programVersion), SQLValue(change.purchaseReference), SQLValue(change.rewardID)])!
            ids[change.serial] = try row.int("id")
        }
        return ids
    }

    /// Replaces the placeholders of applied keyed changes with their answers and deletes those
    /// of changes that did not apply.
    private static func storeAnswers(tenant: String, _ answers: [(key: String, body: [UInt8])], releasing unused: [String],
                                     on connection: any SQLConnection) throws {
        let dialect = connection.dialect
        if !answers.isEmpty {
            if dialect == .postgres {
                try connection.execute("""
                    UPDATE idempotency_records AS i SET response_body = decode(v.body, 'hex')
                    FROM unnest(?::text[], ?::text[]) AS v(key, body) WHERE i.tenant_id = ? AND i.key = v.key
                    """, [.text(ArrayLiteral.texts(answers.map(\.key))), .text(ArrayLiteral.hex(answers.map(\.body))), .text(tenant)])
            } else {
                for (key, body) in answers {
                    try connection.execute("UPDATE idempotency_records SET response_body = ? WHERE tenant_id = ? AND key = ?",
                                           [.blob(body), .text(tenant), .text(key)])
                }
            }
        }
        if !unused.isEmpty {
            try connection.execute("""
                DELETE FROM idempotency_records WHERE tenant_id = ? AND key IN (\(Array(repeating: "?", count: unused.count).joined(separator: ", ")))
                """, [.text(tenant)] + unused.map(SQLValue.text))
        }
    }
}
