import LoyaltyRules
import PasslineJSON
import PasslineSQL

/// A tenant's reward catalogue, per mode.
public enum Rewards {
    public struct Stored: Sendable, Equatable {
        public let id: String
        public let reward: Reward
        public let createdAt: Int64
    }

    /// - Throws: `DomainError.conflict` when the mode's catalogue has a reward of that name.
    public static func create(id: String, _ reward: Reward, tenant: String, mode: CardMode, now: Int64, on connection: any SQLConnection) throws -> Stored {
        do {
            try connection.execute("INSERT INTO rewards (tenant_id, mode, id, name, rules, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                                   [.text(tenant), .text(mode.rawValue), .text(id), .text(reward.name), .text(JSONWriter.string(.object(reward.json))), .int(now)])
        } catch let error as SQLError where error.code == .uniqueViolation {
            throw DomainError(.conflict, "The catalogue has a reward named \(reward.name) already.")
        }
        return Stored(id: id, reward: reward, createdAt: now)
    }

    public static func list(tenant: String, mode: CardMode, on connection: any SQLConnection) throws -> [Stored] {
        try connection.query("SELECT id, rules, created_at FROM rewards WHERE tenant_id = ? AND mode = ? ORDER BY name",
                             [.text(tenant), .text(mode.rawValue)]).map(stored)
    }

    /// The reward with this id or name in the mode's catalogue; nil for another tenant's or mode's.
    public static func find(_ idOrName: String, tenant: String, mode: CardMode, on connection: any SQLConnection) throws -> Stored? {
        try connection.first("SELECT id, rules, created_at FROM rewards WHERE tenant_id = ? AND mode = ? AND (id = ? OR name = ?)",
                             [.text(tenant), .text(mode.rawValue), .text(idOrName), .text(idOrName)]).map(stored)
    }

    /// How many times the card took the reward since `since`.
    public static func redemptions(of reward: String, serial: String, tenant: String, since: Int64, on connection: any SQLConnection) throws -> Int64 {
        try connection.first("""
            SELECT COUNT(*) AS n FROM ledger_entries WHERE tenant_id = ? AND serial_number = ? AND reward_id = ? AND created_at >= ?
            """, [.text(tenant), .text(serial), .text(reward), .int(since)])!.int("n")
    }

    private static func stored(_ row: SQLRow) throws -> Stored {
        let object = try JSONParser.parse(Array(try row.string("rules").utf8)).objectValue ?? JSONObject()
        return Stored(id: try row.string("id"), reward: try Reward.parse(object), createdAt: try row.int("created_at"))
    }
}
