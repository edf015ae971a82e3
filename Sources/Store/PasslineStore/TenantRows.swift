import LoyaltyRules
import PasslineSQL

/// A tenant's row and its update-tag counter.
public enum TenantRows {
    /// Creates a tenant and its update-tag counter.
    public static func create(id: String, name: String, now: Int64, on connection: any SQLConnection) throws {
        try TextRules.check(name, field: "Tenant name", maxLength: 200)
        do {
            try connection.execute("INSERT INTO tenants (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                                   [.text(id), .text(name), .int(now), .int(now)])
        } catch let error as SQLError where error.code == .uniqueViolation {
            throw DomainError(.conflict, "A tenant with id \(id) exists already.")
        }
        try UpdateTags.create(tenant: id, on: connection)
    }

    /// The tenant's name; nil when there is no such tenant.
    public static func name(_ id: String, on connection: any SQLConnection) throws -> String? {
        try connection.first("SELECT name FROM tenants WHERE id = ?", [.text(id)])?.string("name")
    }

    public static func exists(_ id: String, on connection: any SQLConnection) throws -> Bool { try name(id, on: connection) != nil }

    /// Suspends a tenant (the reason replaces an earlier one) or, with nil, resumes it.
    /// - Returns: false when there is no such tenant.
    public static func setSuspension(_ id: String, reason: String?, now: Int64, on connection: any SQLConnection) throws -> Bool {
        if let reason { try TextRules.check(reason, field: "reason", maxLength: 500) }
        return try connection.execute("UPDATE tenants SET suspended_reason = ?, suspended_at = ?, updated_at = ? WHERE id = ?",
                                      [reason.map(SQLValue.text) ?? .null, reason == nil ? .null : .int(now), .int(now), .text(id)]) > 0
    }

    /// Why the tenant is suspended; nil when it is not (or does not exist).
    public static func suspension(_ id: String, on connection: any SQLConnection) throws -> String? {
        try connection.first("SELECT suspended_reason FROM tenants WHERE id = ? AND suspended_at IS NOT NULL", [.text(id)])?.optionalString("suspended_reason")
    }
}
