import LoyaltyRules
import PasslineJSON
import PasslineSQL

/// Uploaded member lists, what became of each row, and the job that issues their cards.
public enum MemberImportRows {
    public static let jobKind = "members.import"

    public struct Import: Sendable, Equatable {
        public let id: String
        public let tenant: String
        public let mode: CardMode
        public let templateID: String
        public let staffEmail: String
        public let total: Int64
        public let faults: Int64
        public let done: Int64
        public let failed: Int64
        public let state: String
        public let error: String?
        public let createdAt: Int64
        public let finishedAt: Int64?
    }

    public static func insert(id: String, tenant: String, mode: CardMode, templateID: String, staffEmail: String, csv: String, total: Int64,
                              faults: Int64, now: Int64, on connection: any SQLConnection) throws {
        try connection.execute("""
            INSERT INTO member_imports (id, tenant_id, mode, template_id, staff_email, csv, total, faults, state, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'checked', ?)
            """, [.text(id), .text(tenant), .text(mode.rawValue), .text(templateID), .text(staffEmail), .text(csv), .int(total), .int(faults), .int(now)])
    }

    public static func get(tenant: String, id: String, on connection: any SQLConnection) throws -> Import? {
        try connection.first("""
            SELECT id, tenant_id, mode, template_id, staff_email, total, faults, done, failed, state, error, created_at, finished_at
            FROM member_imports WHERE tenant_id = ? AND id = ?
            """, [.text(tenant), .text(id)]).map { row in
            Import(id: try row.string("id"), tenant: try row.string("tenant_id"), mode: try row.mode("mode"), templateID: try row.string("template_id"),
                   staffEmail: try row.string("staff_email"), total: try row.int("total"), faults: try row.int("faults"), done: try row.int("done"),
                   failed: try row.int("failed"), state: try row.string("state"), error: try row.optionalString("error"),
                   createdAt: try row.int("created_at"), finishedAt: try row.optionalInt("finished_at"))
        }
    }

    /// The uploaded text, for the job.
    public static func csv(id: String, on connection: any SQLConnection) throws -> (tenant: String, text: String)? {
        try connection.first("SELECT tenant_id, csv FROM member_imports WHERE id = ?", [.text(id)]).map { (try $0.string("tenant_id"), try $0.string("csv")) }
    }

    /// Starts a checked import: its job issues the cards. False when it was started already.
    public static func start(tenant: String, id: String, now: Int64, on connection: any SQLConnection) throws -> Bool {
        guard try connection.execute("UPDATE member_imports SET state = 'running' WHERE tenant_id = ? AND id = ? AND state = 'checked'",
                                     [.text(tenant), .text(id)]) == 1 else { return false }
        try JobQueue.enqueue([NewJob(kind: jobKind, tenant: tenant, payload: JSONWriter.string(.object(JSONObject([("import", .string(id))]))),
                                     priority: .bulk, maxAttempts: 20, coalesceKey: "import:\(id)")], now: now, on: connection)
        return true
    }

    /// The lines done already (a job taken up again after a crash goes on from there).
    public static func lines(id: String, on connection: any SQLConnection) throws -> Set<Int64> {
        Set(try connection.query("SELECT line FROM member_import_cards WHERE import_id = ?", [.text(id)]).map { try $0.int("line") })
    }

    /// Records what became of one row, and moves the counts.
    public static func record(id: String, line: Int64, serial: String?, error: String?, on connection: any SQLConnection) throws {
        guard try connection.execute("INSERT INTO member_import_cards (import_id, line, serial_number, error) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                     [.text(id), .int(line), SQLValue(serial), SQLValue(error)]) == 1 else { return }
        try connection.execute("UPDATE member_imports SET done = done + ?, failed = failed + ? WHERE id = ?",
                               [.int(serial == nil ? 0 : 1), .int(serial == nil ? 1 : 0), .text(id)])
    }

    public static func finish(id: String, error: String? = nil, now: Int64, on connection: any SQLConnection) throws {
        try connection.execute("UPDATE member_imports SET state = 'finished', error = ?, finished_at = ? WHERE id = ?", [SQLValue(error), .int(now), .text(id)])
    }

    /// The cards an import issued (line, serial), and the rows that failed (line, error).
    public static func results(id: String, on connection: any SQLConnection) throws -> [(line: Int64, serial: String?, error: String?)] {
        try connection.query("SELECT line, serial_number, error FROM member_import_cards WHERE import_id = ? ORDER BY line", [.text(id)])
            .map { (try $0.int("line"), try $0.optionalString("serial_number"), try $0.optionalString("error")) }
    }

    /// Member ids that already have a card of the template in the mode.
    public static func existingMembers(tenant: String, mode: CardMode, templateID: String, on connection: any SQLConnection) throws -> Set<String> {
        Set(try connection.query("SELECT member_id FROM cards WHERE tenant_id = ? AND mode = ? AND template_id = ?",
                                 [.text(tenant), .text(mode.rawValue), .text(templateID)]).map { try $0.string("member_id") })
    }
}
