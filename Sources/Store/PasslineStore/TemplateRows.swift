import LoyaltyRules
import PasslineSQL

/// A tenant's stored templates (the pass.json they build from), and how their names are kept per mode.
public enum TemplateRows {
    /// Stores a template's pass.json for a tenant.
    /// - Parameter mode: `live` or `test` for a template only keys of that mode see; nil for one
    ///   both modes use (made by the operator or the tenant's own tools, or before modes existed).
    public static func create(id: String, tenant: String, name: String, passJSON: [UInt8], mode: CardMode? = nil, now: Int64, on connection: any SQLConnection) throws {
        try TextRules.check(name, field: "Template name", maxLength: 100)
        // A shared template is seen by both modes' keys, so its name may not be a test
        // template's, nor a test template's a shared one's: a name would mean two templates.
        let taken: String? = switch mode {
        case .test?: try connection.first("SELECT 1 AS one FROM templates WHERE tenant_id = ? AND name = ? AND mode IS NULL", [.text(tenant), .text(name)]).map { _ in name }
        case nil: try connection.first("SELECT 1 AS one FROM templates WHERE tenant_id = ? AND name = ?", [.text(tenant), .text(TemplateNames.stored(name, mode: .test))]).map { _ in name }
        default: nil
        }
        if let taken { throw DomainError(.conflict, "The tenant has a template named \(taken) already.") }
        do {
            try connection.execute("INSERT INTO templates (id, tenant_id, name, pass_json, mode, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   [.text(id), .text(tenant), .text(TemplateNames.stored(name, mode: mode)), .blob(passJSON), mode.map { .text($0.rawValue) } ?? .null,
                                    .int(now), .int(now)])
        } catch let error as SQLError where error.code == .uniqueViolation {
            throw DomainError(.conflict, "The tenant has a template named \(name) already.")
        }
    }
}

/// How template names are stored: a test template's under a prefix that no name can hold (names
/// are letters, digits, '-', '_' and '.'), so a test key can name its templates freely without
/// learning, from a refusal, which names the live templates have.
public enum TemplateNames {
    static let testPrefix = "test:"

    public static func stored(_ name: String, mode: CardMode?) -> String { mode == .test ? testPrefix + name : name }

    public static func shown(_ stored: String) -> String {
        stored.hasPrefix(testPrefix) ? String(stored.dropFirst(testPrefix.count)) : stored
    }
}
