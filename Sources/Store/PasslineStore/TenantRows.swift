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
}
