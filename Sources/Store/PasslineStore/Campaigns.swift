import LoyaltyRules
import PasslineJSON
import PasslineSQL

/// Campaigns: one change (a reissue, new field values, a message) applied to every card of a
/// template, with a push to every device. Creating one records the cards it covers and enqueues
/// one `campaign.run` job; the job works through the cards in steps, each step a transaction
/// that changes its cards, marks them done and enqueues their pushes at bulk priority. A crash
/// between steps loses nothing: the job's lease runs out, it is claimed again, and it continues
/// with the cards still pending.
public enum Campaigns {
    /// What a campaign changes on each card.
    public typealias Change = CardFieldsChange

    public struct Campaign: Sendable, Equatable {
        public let id: String
        public let tenant: String
        public let templateID: String
        public let mode: CardMode
        public let kind: String
        public let total: Int64
        public let done: Int64
        public let failed: Int64
        public let state: String
        public let createdAt: Int64
        public let finishedAt: Int64?
        /// The cards it goes to.
        public var segment: Segment = Segment()
        /// When it starts, for one set ahead; its cards are chosen then.
        public var startsAt: Int64? = nil
        /// False until its cards are chosen (a campaign set ahead, before its time).
        public var cardsChosen: Bool = true
    }

    /// Records a campaign over every card of the template in `mode` that is not voided, and
    /// enqueues the job that runs it. A template without cards makes a campaign that is finished at once.
    public static func create(id: String, tenant: String, mode: CardMode, templateID: String, change: Change, segment: Segment = Segment(),
                              startsAt: Int64? = nil, now: Int64, on connection: any SQLConnection) throws -> Campaign {
        try change.validate()
        try segment.validate()
        let later = startsAt.map { $0 > now } ?? false
        try connection.execute("""
            INSERT INTO campaigns (id, tenant_id, template_id, mode, kind, change, total, done, failed, state, created_at, segment, starts_at, cards_chosen)
            VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 'running', ?, ?, ?, ?)
            """, [.text(id), .text(tenant), .text(templateID), .text(mode.rawValue), .text(change.kind), .text(change.json), .int(now),
                  .text(segment.json), SQLValue(startsAt), .int(later ? 0 : 1)])
        if later {
            // Its job waits for the time; the cards are chosen when it runs.
            try JobQueue.enqueue(job(id, tenant: tenant, runAt: startsAt), now: now, on: connection)
        } else {
            try chooseCards(campaign: id, tenant: tenant, mode: mode, templateID: templateID, segment: segment, now: now, on: connection)
        }
        return try get(tenant: tenant, id: id, on: connection)!
    }

    static func job(_ id: String, tenant: String, runAt: Int64? = nil) -> NewJob {
        NewJob(kind: CampaignJob.kind, tenant: tenant, payload: CampaignJob(campaign: id).payload, priority: .bulk, runAt: runAt, maxAttempts: 50,
               coalesceKey: "campaign:\(id)")
    }

    /// Lists the campaign's cards (the template's in its mode, not voided, in the segment as it
    /// stands `now`) and enqueues its job; a campaign without cards finishes at once.
    static func chooseCards(campaign id: String, tenant: String, mode: CardMode, templateID: String, segment: Segment, now: Int64,
                            on connection: any SQLConnection) throws {
        var conditions = ""
        var binds: [SQLValue] = [.text(id), .text(tenant), .text(templateID), .text(mode.rawValue)]
        if let minBalance = segment.minBalance {
            conditions += " AND c.points >= ?"
            binds.append(.int(minBalance))
        }
        if let days = segment.expiringWithinDays {
            conditions += """
                 AND EXISTS (SELECT 1 FROM point_lots l WHERE l.tenant_id = c.tenant_id AND l.serial_number = c.serial_number
                             AND l.remaining > 0 AND l.expires_at IS NOT NULL AND l.expires_at <= ?)
                """
            binds.append(.int(now + days * Timestamp.millisecondsPerDay))
        }
        if let days = segment.noVisitForDays {
            conditions += """
                 AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.tenant_id = c.tenant_id AND e.serial_number = c.serial_number
                                 AND e.type IN ('earn', 'redeem') AND e.created_at >= ?)
                """
            binds.append(.int(now - days * Timestamp.millisecondsPerDay))
        }
        let total = try connection.execute("""
            INSERT INTO campaign_cards (campaign_id, tenant_id, serial_number, state)
            SELECT ?, c.tenant_id, c.serial_number, 'pending' FROM cards c WHERE c.tenant_id = ? AND c.template_id = ? AND c.mode = ? AND c.voided = 0\(conditions)
            """, binds)
        try connection.execute("UPDATE campaigns SET total = ?, cards_chosen = 1 WHERE id = ?", [.int(Int64(total)), .text(id)])
        if total == 0 {
            try connection.execute("UPDATE campaigns SET state = 'finished', finished_at = ? WHERE id = ?", [.int(now), .text(id)])
            try emitFinished(id, tenant: tenant, mode: mode, now: now, on: connection)
        } else {
            try JobQueue.enqueue(job(id, tenant: tenant), now: now, on: connection)
        }
    }

    /// One step: up to `limit` pending cards get the change, a new version, a tag and their pushes.
    /// - Returns: the cards it took (changed or failed) and whether cards are still pending after it.
    public static func step(campaign id: String, limit: Int, now: Int64,
                            on connection: any SQLConnection) throws -> (taken: Int, remaining: Bool) {
        let dialect = connection.dialect
        guard let campaign = try connection.first("SELECT tenant_id, mode, change, state, template_id, segment, cards_chosen FROM campaigns WHERE id = ?",
                                                  [.text(id)]),
              try campaign.string("state") == "running" else { return (0, false) }
        let tenant = try campaign.string("tenant_id"), mode = try campaign.mode("mode")
        // A campaign set ahead chooses its cards when its time comes; its job comes back for them.
        if try !campaign.bool("cards_chosen") {
            try chooseCards(campaign: id, tenant: tenant, mode: mode, templateID: try campaign.string("template_id"),
                            segment: Segment(json: try campaign.string("segment")), now: now, on: connection)
            return (0, false)
        }
        let change = Change(json: try campaign.string("change"))
        // Lock the cards before reading their fields, so a single change committed meanwhile is merged, not overwritten.
        let rows = try connection.query("""
            SELECT c.serial_number AS serial_number, c.fields AS fields, c.voided AS voided
            FROM campaign_cards cc JOIN cards c ON c.tenant_id = cc.tenant_id AND c.serial_number = cc.serial_number
            WHERE cc.campaign_id = ? AND cc.state = 'pending' ORDER BY cc.serial_number LIMIT ?
            \(dialect == .postgres ? "FOR UPDATE OF c" : "")
            """, [.text(id), .int(Int64(limit))])
        // A statement a card for its new fields; everything else for the whole step at once, so
        // a step holds the store (SQLite's one connection) as briefly as it can.
        var changed: [String] = []
        var voided: [String] = []
        for row in rows {
            let serial = try row.string("serial_number")
            if try row.bool("voided") {
                voided.append(serial)
                continue
            }
            let current = (try? JSONParser.parse(Array(try row.string("fields").utf8)))?.objectValue ?? JSONObject()
            let fields = JSONWriter.string(.object(change.apply(to: current)))
            try connection.execute("UPDATE cards SET version = version + 1, updated_at = ?, fields = ? WHERE tenant_id = ? AND serial_number = ?",
                                   [.int(now), .text(fields), .text(tenant), .text(serial)])
            changed.append(serial)
        }
        func list(_ serials: [String]) -> String { Array(repeating: "?", count: serials.count).joined(separator: ", ") }
        if !voided.isEmpty {
            try connection.execute("UPDATE campaign_cards SET state = 'failed', reason = ? WHERE campaign_id = ? AND serial_number IN (\(list(voided)))",
                                   [.text("The card was voided before the campaign reached it."), .text(id)] + voided.map(SQLValue.text))
        }
        if !changed.isEmpty {
            try connection.execute("""
                UPDATE campaign_cards SET state = 'done', version = (
                    SELECT c.version FROM cards c WHERE c.tenant_id = campaign_cards.tenant_id AND c.serial_number = campaign_cards.serial_number)
                WHERE campaign_id = ? AND serial_number IN (\(list(changed)))
                """, [.text(id)] + changed.map(SQLValue.text))
        }
        try Consequences.write(.campaignStep(id), tenant: tenant, serials: changed, mode: mode, now: now, on: connection)
        let failed = voided.count
        let remaining = rows.count == limit
        try connection.execute("""
            UPDATE campaigns SET done = done + ?, failed = failed + ?, state = ?, finished_at = ? WHERE id = ?
            """, [.int(Int64(changed.count)), .int(Int64(failed)), .text(remaining ? "running" : "finished"), remaining ? .null : .int(now), .text(id)])
        try Events.emit(tenant: tenant, mode: mode, now: now, on: connection) {
            try changed.map { serial in
                DomainEvent(.cardUpdated, JSONObject([("card", .object(try Events.cardSnapshot(tenant: tenant, serial: serial, on: connection))),
                                                      ("campaign", .string(id))]))
            }
        }
        if !remaining { try emitFinished(id, tenant: tenant, mode: mode, now: now, on: connection) }
        // Last, as every change does: one tag for the whole step, since its cards commit together.
        if !changed.isEmpty {
            let tag = try UpdateTags.next(tenant: tenant, on: connection)
            try connection.execute("UPDATE cards SET update_tag = ? WHERE tenant_id = ? AND serial_number IN (\(Array(repeating: "?", count: changed.count).joined(separator: ", ")))",
                                   [.int(tag), .text(tenant)] + changed.map(SQLValue.text))
        }
        return (rows.count, remaining)
    }

    /// Brings PostgreSQL's statistics of `campaign_cards` up to date once a campaign's cards are
    /// listed. Until autovacuum gets to it, the planner still sees the table as it was and
    /// expects a few rows per campaign; it then reads all of a campaign's rows to mark a step's
    /// cards done, several times slower a step (BENCHMARKS.md has the figures).
    /// SQLite plans these statements from its indexes alone.
    public static func refreshStatistics(on connection: any SQLConnection) throws {
        let dialect = connection.dialect
        guard dialect == .postgres else { return }
        _ = try connection.execute("ANALYZE campaign_cards", [])
    }

    /// A tenant's campaign; nil for unknown ids and other tenants' alike.
    public static func get(tenant: String, id: String, on connection: any SQLConnection) throws -> Campaign? {
        guard let row = try connection.first("SELECT * FROM campaigns WHERE id = ? AND tenant_id = ?", [.text(id), .text(tenant)]) else { return nil }
        return try campaign(row)
    }

    /// A tenant's newest campaigns in a mode, newest first.
    public static func list(tenant: String, mode: CardMode, limit: Int, on connection: any SQLConnection) throws -> [Campaign] {
        try connection.query("SELECT * FROM campaigns WHERE tenant_id = ? AND mode = ? ORDER BY created_at DESC, id LIMIT ?",
                             [.text(tenant), .text(mode.rawValue), .int(Int64(limit))]).map(campaign)
    }

    static func campaign(_ row: SQLRow) throws -> Campaign {
        Campaign(id: try row.string("id"), tenant: try row.string("tenant_id"), templateID: try row.string("template_id"),
                        mode: try row.mode("mode"), kind: try row.string("kind"), total: try row.int("total"), done: try row.int("done"),
                        failed: try row.int("failed"), state: try row.string("state"), createdAt: try row.int("created_at"),
                        finishedAt: try row.optionalInt("finished_at"), segment: Segment(json: try row.string("segment")),
                        startsAt: try row.optionalInt("starts_at"), cardsChosen: try row.bool("cards_chosen"))
    }

    /// How the campaign's pushes went (by outcome) and how many of its cards devices have fetched since.
    public static func delivery(campaign id: String, on connection: any SQLConnection) throws -> (pushes: [String: Int], fetched: Int) {
        let pushes = try Pushes.counts(campaign: id, on: connection)
        if let final = try connection.first("SELECT fetched_final FROM campaigns WHERE id = ?", [.text(id)])?.optionalInt("fetched_final") {
            return (pushes, Int(final))
        }
        let fetched = try connection.first("""
            SELECT COUNT(*) AS n FROM campaign_cards cc JOIN cards c ON c.tenant_id = cc.tenant_id AND c.serial_number = cc.serial_number
            WHERE cc.campaign_id = ? AND cc.state = 'done' AND c.fetched_version >= cc.version
            """, [.text(id)])!.int("n")
        return (pushes, Int(fetched))
    }
}

extension Campaigns {
    /// `campaign.finished`, with the campaign's figures.
    private static func emitFinished(_ id: String, tenant: String, mode: CardMode, now: Int64, on connection: any SQLConnection) throws {
        try Events.emit(tenant: tenant, mode: mode, now: now, on: connection) {
            guard let campaign = try get(tenant: tenant, id: id, on: connection) else { return [] }
            return [DomainEvent(.campaignFinished, JSONObject([("campaign", .object(JSONObject([
                ("id", .string(campaign.id)), ("templateId", .string(campaign.templateID)), ("kind", .string(campaign.kind)),
                ("total", .int(campaign.total)), ("done", .int(campaign.done)), ("failed", .int(campaign.failed)),
                ("createdAt", .string(Timestamp.format(campaign.createdAt))), ("finishedAt", .string(Timestamp.format(now))),
            ])))]))]
        }
    }

    /// Removes the card lists of campaigns finished before `finishedBefore`, a few campaigns at
    /// a time (at most about `limit` rows), after freezing each one's fetched count: the
    /// campaign's figures stay as the API reported them.
    /// - Returns: how many card rows went.
    @discardableResult
    public static func purgeCards(finishedBefore: Int64, limit: Int, now: Int64, on connection: any SQLConnection) throws -> Int {
        let ids = try connection.query("""
            SELECT id, total FROM campaigns WHERE state = 'finished' AND finished_at < ? AND cards_purged_at IS NULL ORDER BY finished_at LIMIT 50
            """, [.int(finishedBefore)]).map { (try $0.string("id"), try $0.int("total")) }
        var removed = 0
        for (id, total) in ids {
            if removed > 0 && removed + Int(total) > limit { break }
            let fetched = try delivery(campaign: id, on: connection).fetched
            _ = try connection.execute("UPDATE campaigns SET fetched_final = ?, cards_purged_at = ? WHERE id = ?", [.int(Int64(fetched)), .int(now), .text(id)])
            removed += try connection.execute("DELETE FROM campaign_cards WHERE campaign_id = ?", [.text(id)])
        }
        return removed
    }
}

extension CardFieldsChange {
    /// The stored form, in `campaigns.change`.
    var json: String {
        var object = JSONObject([("fields", .object(fields))])
        if let message { object["message"] = .string(message) }
        return JSONWriter.string(.object(object))
    }

    init(json: String) {
        let object = (try? JSONParser.parse(Array(json.utf8)))?.objectValue ?? JSONObject()
        self.init(fields: object["fields"]?.objectValue ?? JSONObject(), message: object["message"]?.stringValue)
    }
}
