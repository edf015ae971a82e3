import LoyaltyRules
import PasslineSQL

/// Every version of a tenant's program (per mode), each effective from its time.
public enum ProgramVersions {
    public struct Version: Sendable, Equatable {
        public let version: Int64
        /// The program's JSON, as `Program.json` wrote it.
        public let rules: String
        public let effectiveAt: Int64
        public let actor: String?
        public let createdAt: Int64
    }

    /// Stores a new version, numbered one past the newest.
    /// - Throws: `DomainError.conflict` when another change took the number first (try again).
    public static func add(tenant: String, mode: CardMode, rules: String, effectiveAt: Int64, actor: String?, now: Int64,
                           on connection: any SQLConnection) throws -> Version {
        let next = try connection.first("SELECT COALESCE(MAX(version), 0) + 1 AS next FROM program_versions WHERE tenant_id = ? AND mode = ?",
                                        [.text(tenant), .text(mode.rawValue)])!.int("next")
        do {
            try connection.execute("""
                INSERT INTO program_versions (tenant_id, mode, version, rules, effective_at, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [.text(tenant), .text(mode.rawValue), .int(next), .text(rules), .int(effectiveAt), SQLValue(actor), .int(now)])
        } catch let error as SQLError where error.code == .uniqueViolation {
            throw DomainError(.conflict, "Another change to the program was saved at the same moment; read it and try again.")
        }
        return Version(version: next, rules: rules, effectiveAt: effectiveAt, actor: actor, createdAt: now)
    }

    /// The version in force at `time`: the latest effective by then (the newest of equals).
    public static func inForce(tenant: String, mode: CardMode, at time: Int64, on connection: any SQLConnection) throws -> Version? {
        try connection.first("""
            SELECT version, rules, effective_at, actor, created_at FROM program_versions
            WHERE tenant_id = ? AND mode = ? AND effective_at <= ? ORDER BY effective_at DESC, version DESC LIMIT 1
            """, [.text(tenant), .text(mode.rawValue), .int(time)]).map(version)
    }

    /// Versions effective after `time` (scheduled changes), soonest first.
    public static func scheduled(tenant: String, mode: CardMode, after time: Int64, on connection: any SQLConnection) throws -> [Version] {
        try connection.query("""
            SELECT version, rules, effective_at, actor, created_at FROM program_versions
            WHERE tenant_id = ? AND mode = ? AND effective_at > ? ORDER BY effective_at, version LIMIT 20
            """, [.text(tenant), .text(mode.rawValue), .int(time)]).map(version)
    }

    private static func version(_ row: SQLRow) throws -> Version {
        Version(version: try row.int("version"), rules: try row.string("rules"), effectiveAt: try row.int("effective_at"),
                actor: try row.optionalString("actor"), createdAt: try row.int("created_at"))
    }
}
