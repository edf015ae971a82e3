import LoyaltyRules
import PasslineSQL

/// Test-mode clocks: the time the cards on a clock live at.
public enum TestClocks {
    public struct Key: Sendable, Hashable {
        public let tenant: String
        public let id: String
        public init(tenant: String, id: String) {
            self.tenant = tenant
            self.id = id
        }
    }

    public enum Status: String, Sendable {
        case ready, advancing
    }

    public struct Clock: Sendable, Equatable {
        public let id: String
        public let frozenTime: Int64
        public let targetTime: Int64
        public let status: Status
        public let createdAt: Int64
    }

    public static func create(id: String, tenant: String, frozenTime: Int64, now: Int64, on connection: any SQLConnection) throws -> Clock {
        try connection.execute("""
            INSERT INTO test_clocks (tenant_id, id, frozen_time, target_time, status, created_at) VALUES (?, ?, ?, ?, 'ready', ?)
            """, [.text(tenant), .text(id), .int(frozenTime), .int(frozenTime), .int(now)])
        return Clock(id: id, frozenTime: frozenTime, targetTime: frozenTime, status: .ready, createdAt: now)
    }

    /// The tenant's clock; nil for another tenant's or none.
    public static func get(_ key: Key, on connection: any SQLConnection) throws -> Clock? {
        try connection.first("SELECT id, frozen_time, target_time, status, created_at FROM test_clocks WHERE tenant_id = ? AND id = ?",
                             [.text(key.tenant), .text(key.id)]).map(clock)
    }

    /// Starts an advance to `target`.
    /// - Throws: `DomainError.invalid` for a target before the clock's time or before the one
    ///   an unfinished advance is heading for.
    public static func advance(_ key: Key, to target: Int64, on connection: any SQLConnection) throws -> Clock {
        guard let current = try connection.first("""
            SELECT id, frozen_time, target_time, status, created_at FROM test_clocks WHERE tenant_id = ? AND id = ?\(connection.dialect == .postgres ? " FOR UPDATE" : "")
            """, [.text(key.tenant), .text(key.id)]).map(clock) else {
            throw DomainError(.notFound, "No test clock \(key.id).")
        }
        guard target >= current.targetTime else {
            throw DomainError(.invalid, "frozenTime must not be before the clock's time, \(Timestamp.format(current.targetTime)): a clock only moves forward.",
                              faults: [.init("frozenTime", "must be at or after \(Timestamp.format(current.targetTime))")])
        }
        try connection.execute("UPDATE test_clocks SET target_time = ?, status = 'advancing' WHERE tenant_id = ? AND id = ?",
                               [.int(target), .text(key.tenant), .text(key.id)])
        return Clock(id: current.id, frozenTime: current.frozenTime, targetTime: target, status: .advancing, createdAt: current.createdAt)
    }

    /// Moves an advancing clock's time to `time` (a step), or to its target and ready.
    public static func move(_ key: Key, to time: Int64, finished: Bool, on connection: any SQLConnection) throws {
        // Never backwards, and ready only at the target the caller read (a newer advance may
        // have raised it meanwhile).
        try connection.execute("""
            UPDATE test_clocks SET frozen_time = ?, status = CASE WHEN ? = 1 AND target_time = ? THEN 'ready' ELSE 'advancing' END
            WHERE tenant_id = ? AND id = ? AND frozen_time <= ?
            """, [.int(time), .int(finished ? 1 : 0), .int(time), .text(key.tenant), .text(key.id), .int(time)])
    }

    /// Clocks with an advance not finished (one cut short by a restart among them).
    public static func advancing(on connection: any SQLConnection) throws -> [Key] {
        try connection.query("SELECT tenant_id, id FROM test_clocks WHERE status = 'advancing'", []).map { Key(tenant: try $0.string("tenant_id"), id: try $0.string("id")) }
    }

    /// The clock a card lives on, and its time; nil for a card on the real clock.
    public static func of(serial: String, tenant: String, on connection: any SQLConnection) throws -> Clock? {
        try connection.first("""
            SELECT k.id AS id, k.frozen_time AS frozen_time, k.target_time AS target_time, k.status AS status, k.created_at AS created_at
            FROM cards c JOIN test_clocks k ON k.tenant_id = c.tenant_id AND k.id = c.test_clock WHERE c.tenant_id = ? AND c.serial_number = ?
            """, [.text(tenant), .text(serial)]).map(clock)
    }

    private static func clock(_ row: SQLRow) throws -> Clock {
        Clock(id: try row.string("id"), frozenTime: try row.int("frozen_time"), targetTime: try row.int("target_time"),
              status: Status(rawValue: try row.string("status")) ?? .ready, createdAt: try row.int("created_at"))
    }
}
