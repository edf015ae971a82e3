import LoyaltyRules
import PasslineSQL

/// Buckets in the store, for limits that hold across every process on one PostgreSQL.
public enum RateLimitRows {
    /// Takes a request from `key`'s bucket in one statement: the arrival time moves only when
    /// the request is allowed. Returns the decision.
    public static func take(_ key: String, limit: RateLimit, cost: Int64 = 1, now: Int64, on connection: any SQLConnection) throws -> RateLimit.Decision {
        let interval = limit.intervalMilliseconds * max(1, cost)
        let greatest = connection.dialect == .postgres ? "GREATEST" : "MAX"
        if let row = try connection.first("""
            INSERT INTO rate_limits (key, tat) VALUES (?, ?)
            ON CONFLICT (key) DO UPDATE SET tat = \(greatest)(rate_limits.tat, ?) + ?
            WHERE \(greatest)(rate_limits.tat, ?) + ? - ? <= ?
            RETURNING tat
            """, [.text(key), .int(now + interval), .int(now), .int(interval), .int(now), .int(interval), .int(limit.burst * limit.intervalMilliseconds), .int(now)]) {
            let tat = try row.int("tat")
            return limit.decide(tat: tat - interval, now: now, cost: cost)
        }
        let tat = try connection.first("SELECT tat FROM rate_limits WHERE key = ?", [.text(key)])?.int("tat")
        return limit.decide(tat: tat, now: now, cost: cost)
    }

    /// Forgets buckets that are full again (idle since before `before`), at most `limit`.
    @discardableResult
    public static func purgeIdle(before: Int64, limit: Int, on connection: any SQLConnection) throws -> Int {
        try connection.execute("DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits WHERE tat < ? LIMIT ?)", [.int(before), .int(Int64(limit))])
    }

    /// A tenant's own plan, set by the operator; nil: the platform's defaults.
    public static func plan(tenant: String, on connection: any SQLConnection) throws -> RateLimit? {
        guard let row = try connection.first("SELECT rate_per_second, rate_burst FROM tenants WHERE id = ?", [.text(tenant)]),
              let perSecond = try row.optionalInt("rate_per_second"), let burst = try row.optionalInt("rate_burst") else { return nil }
        return RateLimit(perSecond: perSecond, burst: burst)
    }

    /// Sets (or with nil, clears) a tenant's plan. Returns false for an unknown tenant.
    public static func setPlan(_ plan: RateLimit?, tenant: String, on connection: any SQLConnection) throws -> Bool {
        try connection.execute("UPDATE tenants SET rate_per_second = ?, rate_burst = ? WHERE id = ?",
                               [SQLValue(plan?.perSecond), SQLValue(plan?.burst), .text(tenant)]) == 1
    }
}
