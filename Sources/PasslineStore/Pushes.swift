import PasslineSQL

/// What the APNs sender writes back: delivery rows, registrations APNs says are dead, and a
/// tenant's pause when its certificate is refused.
public enum Pushes {
    public struct Delivery: Sendable {
        public var tenant: String, pushToken: String, passType: String, outcome: String
        public var apnsID: String?, reason: String?, attempt: Int
        public init(tenant: String, pushToken: String, passType: String, outcome: String, apnsID: String?, reason: String?, attempt: Int) {
            self.tenant = tenant; self.pushToken = pushToken; self.passType = passType; self.outcome = outcome
            self.apnsID = apnsID; self.reason = reason; self.attempt = attempt
        }
    }

    public static func record(_ deliveries: [Delivery], now: Int64, on connection: any SQLConnection) throws {
        for delivery in deliveries {
            try connection.execute("""
                INSERT INTO push_deliveries (tenant_id, push_token, pass_type, outcome, apns_id, reason, attempt, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(delivery.tenant), .text(delivery.pushToken), .text(delivery.passType), .text(delivery.outcome),
                      delivery.apnsID.map(SQLValue.text) ?? .null, delivery.reason.map(SQLValue.text) ?? .null,
                      .int(Int64(delivery.attempt)), .int(now)])
        }
    }

    /// Removes the registrations for `passType` of every device of the tenant whose current push
    /// token is `pushToken`, except devices that registered again after `registeredBefore`
    /// (APNs' timestamp: a newer registration is a live one). Devices left with no registration go too.
    /// - Returns: how many registrations were removed.
    @discardableResult
    public static func removeRegistrations(tenant: String, pushToken: String, passType: String, registeredBefore: Int64?,
                                           on connection: any SQLConnection) throws -> Int {
        let before = registeredBefore ?? Int64.max
        let removed = try connection.execute("""
            DELETE FROM registrations WHERE tenant_id = ? AND pass_type_identifier = ? AND device_library_id IN (
                SELECT device_library_id FROM devices WHERE tenant_id = ? AND push_token = ? AND updated_at <= ?)
            """, [.text(tenant), .text(passType), .text(tenant), .text(pushToken), .int(before)])
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

    /// Delivery outcomes of a tenant (or all tenants), counted.
    public static func counts(tenant: String?, on connection: any SQLConnection) throws -> [String: Int] {
        let rows = try tenant.map {
            try connection.query("SELECT outcome, COUNT(*) AS n FROM push_deliveries WHERE tenant_id = ? GROUP BY outcome", [.text($0)])
        } ?? connection.query("SELECT outcome, COUNT(*) AS n FROM push_deliveries GROUP BY outcome", [])
        var counts: [String: Int] = [:]
        for row in rows { counts[try row.string("outcome")] = Int(try row.int("n")) }
        return counts
    }
}
