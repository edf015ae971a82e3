import LoyaltyRules
import PasslineSQL

/// The rows a tenant's cards stand on: the tenant with its tag counter, its templates, its
/// cards and their changes. The domain builds its operations from these; what devices write
/// is `Devices`'s.
public enum Records {
    /// Creates a tenant and its update-tag counter.
    public static func createTenant(id: String, name: String, now: Int64, on connection: any SQLConnection) throws {
        try TextRules.check(name, field: "Tenant name", maxLength: 200)
        do {
            try connection.execute("INSERT INTO tenants (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                                   [.text(id), .text(name), .int(now), .int(now)])
        } catch let error as SQLError where error.code == .uniqueViolation {
            throw DomainError(.conflict, "A tenant with id \(id) exists already.")
        }
        try UpdateTags.create(tenant: id, on: connection)
    }

    /// Stores a template's pass.json for a tenant.
    /// - Parameter mode: `live` or `test` for a template only keys of that mode see; nil for one
    ///   both modes use (made by the operator or the tenant's own tools, or before modes existed).
    public static func createTemplate(id: String, tenant: String, name: String, passJSON: [UInt8], mode: CardMode? = nil, now: Int64, on connection: any SQLConnection) throws {
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

    /// A new card, at version 1, with a fresh update tag.
    public struct NewCard: Sendable {
        public var serialNumber: String, templateID: String, mode: CardMode, memberID: String, memberName: String
        public var authenticationToken: String, publicToken: String, fieldsJSON: String, points: Int64
        public init(serialNumber: String, templateID: String, mode: CardMode = .live, memberID: String, memberName: String,
                    authenticationToken: String, publicToken: String, fieldsJSON: String = "{}", points: Int64) {
            self.serialNumber = serialNumber; self.templateID = templateID; self.mode = mode; self.memberID = memberID
            self.memberName = memberName; self.authenticationToken = authenticationToken; self.publicToken = publicToken
            self.fieldsJSON = fieldsJSON; self.points = points
        }
    }

    public static func insertCard(_ card: NewCard, tenant: String, now: Int64, on connection: any SQLConnection) throws {
        try TextRules.check(card.serialNumber, field: "serialNumber", maxLength: 128)
        try TextRules.check(card.memberID, field: "memberId", maxLength: 256)
        try TextRules.check(card.memberName, field: "memberName", maxLength: 256)
        try TextRules.check(card.fieldsJSON, field: "fields", maxLength: 65_536)
        do {
            try connection.execute("""
                INSERT INTO cards (tenant_id, serial_number, template_id, mode, member_id, member_name, authentication_token,
                                   public_token, fields, points, version, update_tag, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?)
                """, [.text(tenant), .text(card.serialNumber), .text(card.templateID), .text(card.mode.rawValue), .text(card.memberID),
                      .text(card.memberName), .text(card.authenticationToken), .text(card.publicToken), .text(card.fieldsJSON),
                      .int(card.points), .int(now), .int(now)])
        } catch let error as SQLError where error.code == .uniqueViolation {
            throw DomainError(.conflict, "The tenant has a card with serial number \(card.serialNumber) already.")
        } catch let error as SQLError where error.code == .foreignKeyViolation {
            throw DomainError(.notFound, "Template \(card.templateID) does not exist for this tenant.")
        }
        try GoogleSync.enqueue(tenant: tenant, serial: card.serialNumber, mode: card.mode, now: now, on: connection)
        try connection.execute("""
            INSERT INTO card_counts (tenant_id, mode, n) VALUES (?, ?, 1) ON CONFLICT (tenant_id, mode) DO UPDATE SET n = card_counts.n + 1
            """, [.text(tenant), .text(card.mode.rawValue)])
        _ = try UpdateTags.stamp(tenant: tenant, serial: card.serialNumber, on: connection)
    }

    /// Marks a card changed: a new version and a new update tag. Returns (version, tag).
    /// The card row is locked first and the tag taken last, as `UpdateTags` asks.
    public static func recordChange(tenant: String, serial: String, pointsDelta: Int64 = 0, now: Int64, on connection: any SQLConnection) throws -> (version: Int64, tag: Int64) {
        guard let row = try connection.first("""
            UPDATE cards SET version = version + 1, points = points + ?, updated_at = ?
            WHERE tenant_id = ? AND serial_number = ? RETURNING version
            """, [.int(pointsDelta), .int(now), .text(tenant), .text(serial)]) else {
            throw DomainError(.notFound, "Card \(serial) does not exist for this tenant.")
        }
        let tag = try UpdateTags.stamp(tenant: tenant, serial: serial, on: connection)
        return (try row.int("version"), tag)
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
