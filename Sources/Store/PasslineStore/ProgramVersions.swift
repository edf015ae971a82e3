import LoyaltyRules
import PasslineSQL

/// Every version of a tenant's program (per mode), and of the programs of its templates that
/// have their own, each effective from its time. Versions are numbered per tenant and mode
/// across all of them, so an entry's version names one program.
public enum ProgramVersions {
    /// The rules of a template's version that hands its cards back to the tenant's program.
    public static let inherit = "inherit"

    public struct Version: Sendable, Equatable {
        public let version: Int64
        /// The template whose program this is; nil for the tenant's own.
        public let template: String?
        /// The program's JSON, as `Program.json` wrote it (or `inherit`).
        public let rules: String
        public let effectiveAt: Int64
        public let actor: String?
        public let createdAt: Int64
    }

    /// Stores a new version, numbered one past the newest.
    /// - Throws: `DomainError.conflict` when another change took the number first (try again).
    public static func add(tenant: String, mode: CardMode, template: String? = nil, rules: String, effectiveAt: Int64, actor: String?, now: Int64,
                           on connection: any SQLConnection) throws -> Version {
        let next = try connection.first("SELECT COALESCE(MAX(version), 0) + 1 AS next FROM program_versions WHERE tenant_id = ? AND mode = ?",
                                        [.text(tenant), .text(mode.rawValue)])!.int("next")
        do {
            try connection.execute("""
                INSERT INTO program_versions (tenant_id, mode, version, template_id, rules, effective_at, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(tenant), .text(mode.rawValue), .int(next), .text(template ?? ""), .text(rules), .int(effectiveAt), SQLValue(actor), .int(now)])
        } catch let error as SQLError where error.code == .uniqueViolation {
            throw DomainError(.conflict, "Another change to the program was saved at the same moment; read it and try again.")
        }
        return Version(version: next, template: template, rules: rules, effectiveAt: effectiveAt, actor: actor, createdAt: now)
    }

    /// The version of one program (the tenant's, or a template's) in force at `time`: the
    /// latest effective by then (the newest of equals).
    public static func inForce(tenant: String, mode: CardMode, template: String? = nil, at time: Int64, on connection: any SQLConnection) throws -> Version? {
        try connection.first("""
            SELECT version, template_id, rules, effective_at, actor, created_at FROM program_versions
            WHERE tenant_id = ? AND mode = ? AND template_id = ? AND effective_at <= ? ORDER BY effective_at DESC, version DESC LIMIT 1
            """, [.text(tenant), .text(mode.rawValue), .text(template ?? ""), .int(time)]).map(version)
    }

    /// Versions of one program effective after `time` (scheduled changes), soonest first.
    public static func scheduled(tenant: String, mode: CardMode, template: String? = nil, after time: Int64, on connection: any SQLConnection) throws -> [Version] {
        try connection.query("""
            SELECT version, template_id, rules, effective_at, actor, created_at FROM program_versions
            WHERE tenant_id = ? AND mode = ? AND template_id = ? AND effective_at > ? ORDER BY effective_at, version LIMIT 20
            """, [.text(tenant), .text(mode.rawValue), .text(template ?? ""), .int(time)]).map(version)
    }

    /// The templates that have (or had) a program of their own.
    public static func templates(tenant: String, mode: CardMode, on connection: any SQLConnection) throws -> [String] {
        try connection.query("SELECT DISTINCT template_id FROM program_versions WHERE tenant_id = ? AND mode = ? AND template_id <> '' ORDER BY template_id",
                             [.text(tenant), .text(mode.rawValue)]).map { try $0.string("template_id") }
    }

    private static func version(_ row: SQLRow) throws -> Version {
        let template = try row.string("template_id")
        return Version(version: try row.int("version"), template: template.isEmpty ? nil : template, rules: try row.string("rules"),
                       effectiveAt: try row.int("effective_at"), actor: try row.optionalString("actor"), createdAt: try row.int("created_at"))
    }
}
