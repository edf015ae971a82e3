import LoyaltyRules
import PasslineJSON
import PasslineSQL

/// What the APNs sender writes back: delivery rows, registrations APNs says are dead, and a
/// tenant's pause when its certificate is refused.
public enum Pushes {
    /// Deletes delivery rows older than `before`, oldest first, at most `limit`: a card's
    /// delivery view shows recent ones, and the figures are kept as counts (`push_outcome_counts`).
    /// - Returns: how many went.
    @discardableResult
    public static func purgeDeliveries(before: Int64, limit: Int, on connection: any SQLConnection) throws -> Int {
        try connection.execute("""
            DELETE FROM push_deliveries WHERE id IN (SELECT id FROM push_deliveries WHERE created_at < ? ORDER BY created_at LIMIT ?)
            """, [.int(before), .int(Int64(limit))])
    }

    public struct Delivery: Sendable {
        public var tenant: String, pushToken: String, passType: String, outcome: PushOutcome
        public var apnsID: String?, reason: String?, attempt: Int
        public var campaign: String?
        public init(tenant: String, pushToken: String, passType: String, outcome: PushOutcome, apnsID: String?, reason: String?, attempt: Int,
                    campaign: String? = nil) {
            self.tenant = tenant; self.pushToken = pushToken; self.passType = passType; self.outcome = outcome
            self.apnsID = apnsID; self.reason = reason; self.attempt = attempt; self.campaign = campaign
        }
    }

    /// Writes the rows in multi-row INSERTs (a fan-out records thousands a second), and adds
    /// them to the outcome counts in the same transaction. Best the last statement before the
    /// COMMIT: on PostgreSQL the counts' rows stay locked until then, and every worker settling
    /// pushes of the same tenant and campaign waits for them.
    public static func record(_ deliveries: [Delivery], now: Int64, on connection: any SQLConnection) throws {
        var start = deliveries.startIndex
        while start < deliveries.endIndex {
            let chunk = deliveries[start..<min(start + 200, deliveries.endIndex)]
            start = chunk.endIndex
            let rows = Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", ")
            var binds: [SQLValue] = []
            binds.reserveCapacity(chunk.count * 9)
            for delivery in chunk {
                binds += [.text(delivery.tenant), .text(delivery.pushToken), .text(delivery.passType), .text(delivery.outcome.rawValue),
                          SQLValue(delivery.apnsID), SQLValue(delivery.reason), .int(Int64(delivery.attempt)), SQLValue(delivery.campaign), .int(now)]
            }
            try connection.execute("""
                INSERT INTO push_deliveries (tenant_id, push_token, pass_type, outcome, apns_id, reason, attempt, campaign_id, created_at)
                VALUES \(rows)
                """, binds)
        }
        // A push given up on is the tenant's to hear of; test-mode pushes never fail.
        for (tenant, failures) in Dictionary(grouping: deliveries.filter { $0.outcome == .failed || $0.outcome == .dead }, by: \.tenant) {
            try Events.emit(tenant: tenant, mode: .live, now: now, on: connection) {
                failures.map { failure in
                    var data = JSONObject([("passTypeIdentifier", .string(failure.passType)), ("outcome", .string(failure.outcome.rawValue)),
                                           ("reason", .string(failure.reason ?? "")), ("attempt", .int(Int64(failure.attempt)))])
                    if let campaign = failure.campaign { data["campaign"] = .string(campaign) }
                    return DomainEvent(.pushFailed, data)
                }
            }
        }
        try count(deliveries, on: connection)
    }

    /// Adds to `push_outcome_counts`: a few rows a batch, each one upsert. In key order, so
    /// that two workers settling at once on PostgreSQL take the rows' locks in one order.
    private static func count(_ deliveries: [Delivery], on connection: any SQLConnection) throws {
        struct Key: Hashable, Comparable {
            let tenant: String, campaign: String, outcome: String
            static func < (a: Key, b: Key) -> Bool { (a.tenant, a.campaign, a.outcome) < (b.tenant, b.campaign, b.outcome) }
        }
        var counts: [Key: Int64] = [:]
        for delivery in deliveries { counts[Key(tenant: delivery.tenant, campaign: delivery.campaign ?? "", outcome: delivery.outcome.rawValue), default: 0] += 1 }
        guard !counts.isEmpty else { return }
        let keys = counts.keys.sorted()
        try connection.execute("""
            INSERT INTO push_outcome_counts (tenant_id, campaign_id, outcome, n)
            VALUES \(Array(repeating: "(?, ?, ?, ?)", count: keys.count).joined(separator: ", "))
            ON CONFLICT (tenant_id, campaign_id, outcome) DO UPDATE SET n = push_outcome_counts.n + excluded.n
            """, keys.flatMap { key -> [SQLValue] in [.text(key.tenant), .text(key.campaign), .text(key.outcome), .int(counts[key]!)] })
    }

    /// Removes the registrations for `passType` of every device of the tenant whose current push
    /// token is `pushToken`, except devices that registered again after `registeredBefore`
    /// (APNs' timestamp: a newer registration is a live one). Devices left with no registration go too.
    /// - Returns: how many registrations were removed.
    @discardableResult
    public static func removeRegistrations(tenant: String, pushToken: String, passType: String, registeredBefore: Int64?,
                                           on connection: any SQLConnection) throws -> Int {
        let before = registeredBefore ?? Int64.max
        // APNs says the device no longer has the passes: each is a removal, counted and told.
        let serials = try connection.query("""
            DELETE FROM registrations WHERE tenant_id = ? AND pass_type_identifier = ? AND device_library_id IN (
                SELECT device_library_id FROM devices WHERE tenant_id = ? AND push_token = ? AND updated_at <= ?)
            RETURNING serial_number
            """, [.text(tenant), .text(passType), .text(tenant), .text(pushToken), .int(before)]).map { try $0.string("serial_number") }
        let removed = serials.count
        try InstallCounts.add(tenant: tenant, serials: serials, wallet: .apple, installs: 0, removals: 1, on: connection)
        for serial in Set(serials) { try Devices.passEvent(.passRemoved, tenant: tenant, serial: serial, now: WallClock.milliseconds(), on: connection) }
        try connection.execute("""
            DELETE FROM devices WHERE tenant_id = ? AND push_token = ? AND updated_at <= ? AND NOT EXISTS (
                SELECT 1 FROM registrations r WHERE r.tenant_id = devices.tenant_id AND r.device_library_id = devices.device_library_id)
            """, [.text(tenant), .text(pushToken), .int(before)])
        return removed
    }

    public static func pause(tenant: String, reason: String, now: Int64, on connection: any SQLConnection) throws {
        try connection.execute("UPDATE tenants SET push_paused_reason = ?, updated_at = ? WHERE id = ?", [.text(reason), .int(now), .text(tenant)])
    }

    public static func resume(tenant: String, now: Int64, on connection: any SQLConnection) throws {
        try connection.execute("UPDATE tenants SET push_paused_reason = NULL, updated_at = ? WHERE id = ?", [.int(now), .text(tenant)])
    }

    public static func pausedReason(tenant: String, on connection: any SQLConnection) throws -> String? {
        try connection.first("SELECT push_paused_reason FROM tenants WHERE id = ?", [.text(tenant)])?.optionalString("push_paused_reason")
    }

    /// What a card's devices got: how many are registered, and the outcomes of pushes to their
    /// tokens since `since` (the card's current version), counted, with the newest.
    public static func forCard(tenant: String, serial: String, since: Int64, on connection: any SQLConnection)
        throws -> (devices: Int, outcomes: [String: Int], last: (outcome: String, reason: String?, at: Int64)?) {
        let devices = try connection.first("SELECT COUNT(*) AS n FROM registrations WHERE tenant_id = ? AND serial_number = ?",
                                           [.text(tenant), .text(serial)])!.int("n")
        let rows = try connection.query("""
            SELECT pd.outcome AS outcome, pd.reason AS reason, pd.created_at AS created_at
            FROM registrations r
            JOIN devices d ON d.tenant_id = r.tenant_id AND d.device_library_id = r.device_library_id
            JOIN push_deliveries pd ON pd.tenant_id = d.tenant_id AND pd.push_token = d.push_token
                                   AND pd.pass_type = r.pass_type_identifier AND pd.created_at >= ?
            WHERE r.tenant_id = ? AND r.serial_number = ?
            ORDER BY pd.id
            """, [.int(since), .text(tenant), .text(serial)])
        var outcomes: [String: Int] = [:]
        for row in rows { outcomes[try row.string("outcome"), default: 0] += 1 }
        let last = try rows.last.map { (try $0.string("outcome"), try $0.optionalString("reason"), try $0.int("created_at")) }
        return (Int(devices), outcomes, last)
    }

    /// Delivery outcomes of a tenant (or all tenants), counted.
    public static func counts(tenant: String?, on connection: any SQLConnection) throws -> [String: Int] {
        let sum = "SELECT outcome, CAST(SUM(n) AS BIGINT) AS n FROM push_outcome_counts"
        let rows = try tenant.map { try connection.query("\(sum) WHERE tenant_id = ? GROUP BY outcome", [.text($0)]) }
            ?? connection.query("\(sum) GROUP BY outcome", [])
        return try outcomes(rows)
    }

    /// A campaign's delivery outcomes, counted.
    public static func counts(campaign: String, on connection: any SQLConnection) throws -> [String: Int] {
        try outcomes(connection.query("SELECT outcome, CAST(SUM(n) AS BIGINT) AS n FROM push_outcome_counts WHERE campaign_id = ? GROUP BY outcome",
                                      [.text(campaign)]))
    }

    private static func outcomes(_ rows: [SQLRow]) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in rows { counts[try row.string("outcome")] = Int(try row.int("n")) }
        return counts
    }
}
