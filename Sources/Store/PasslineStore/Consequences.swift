import LoyaltyRules
import PasslineSQL

/// Writes what a change causes (`ChangeConsequences` decides it) into the change's own
/// transaction: the push jobs of the cards' devices and the Google syncs.
public enum Consequences {
    /// - Returns: how many devices of each card are pushed to.
    @discardableResult
    public static func write(_ consequences: ChangeConsequences, tenant: String, serials: [String], mode: CardMode, now: Int64,
                             on connection: any SQLConnection) throws -> [String: Int] {
        let priority: JobPriority = consequences.urgency == .bulk ? .bulk : .interactive
        let pushes = try enqueuePushes(tenant: tenant, serials: serials, mode: mode, priority: priority, campaign: consequences.campaign, now: now, on: connection)
        try GoogleSync.enqueue(tenant: tenant, serials: serials, mode: mode, priority: priority, now: now, on: connection)
        return pushes
    }

    /// The push jobs, one per distinct (push token, pass type) among the devices registered
    /// for the cards, telling how many devices of each card were pushed to. A test-mode card's
    /// jobs say so, and the sender records them without sending.
    ///
    /// The jobs are made and inserted by the store in one statement, not row by row in Swift:
    /// a change to a card with 100,000 devices commits its jobs before the first push can go,
    /// so every microsecond a job costs here is a microsecond no device hears anything (read
    /// into Swift, turned into JSON and bound back, a job cost several times more: BENCHMARKS.md).
    static func enqueuePushes(tenant: String, serials: [String], mode: CardMode, priority: JobPriority, campaign: String?,
                                     now: Int64, on connection: any SQLConnection) throws -> [String: Int] {
        let dialect = connection.dialect
        guard !serials.isEmpty else { return [:] }
        let registered = """
            FROM registrations r JOIN devices d ON d.tenant_id = r.tenant_id AND d.device_library_id = r.device_library_id
            WHERE r.tenant_id = ? AND r.serial_number IN (\(Array(repeating: "?", count: serials.count).joined(separator: ", ")))
            """
        let cards: [SQLValue] = [.text(tenant)] + serials.map(SQLValue.text)
        var perCard: [String: Int] = [:]
        for row in try connection.query("SELECT r.serial_number AS serial_number, COUNT(*) AS n \(registered) GROUP BY r.serial_number", cards) {
            perCard[try row.string("serial_number")] = Int(try row.int("n"))
        }
        guard !perCard.isEmpty else { return [:] }

        let payload = PushJob.payloadSQL(tenant: tenant, token: "push_token", passType: "pass_type", mode: mode, campaign: campaign, dialect: dialect)
        let key = PushJob.coalesceKeySQL(tenantParameter: "CAST(? AS TEXT)", token: "push_token", passType: "pass_type", mode: mode)
        // Distinct (token, pass type): a device holding several of the cards gets one push.
        try JobQueue.enqueue(selecting: """
            SELECT CAST(? AS TEXT), CAST(? AS TEXT), \(payload.sql), CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS INTEGER), \(key)
            FROM (SELECT DISTINCT d.push_token AS push_token, r.pass_type_identifier AS pass_type \(registered)) AS targets
            """, [.text(tenant), .text(PushJob.kind)] + payload.binds
                + [.int(Int64(priority.rawValue)), .int(now), .int(Int64(NewJob.defaultMaxAttempts)), .text(tenant)] + cards,
            now: now, on: connection)
        return perCard
    }
}
