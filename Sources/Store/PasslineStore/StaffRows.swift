import LoyaltyRules
import PasslineSQL

/// The web app's people, their invitations and sessions, and what they did (the audit log).
public enum StaffRows {
    public struct Staff: Sendable, Equatable {
        public let id: String
        public let tenant: String
        public let email: String
        public var name: String
        public var role: StaffRole
        public var passwordHash: String?
        public var failedLogins: Int64
        /// Milliseconds since 1970; 0 when not locked.
        public var lockedUntil: Int64
        public var disabledAt: Int64?
        public let createdAt: Int64

        public init(id: String, tenant: String, email: String, name: String, role: StaffRole, passwordHash: String? = nil, failedLogins: Int64 = 0,
                    lockedUntil: Int64 = 0, disabledAt: Int64? = nil, createdAt: Int64) {
            self.id = id; self.tenant = tenant; self.email = email; self.name = name; self.role = role; self.passwordHash = passwordHash
            self.failedLogins = failedLogins; self.lockedUntil = lockedUntil; self.disabledAt = disabledAt; self.createdAt = createdAt
        }

        /// Signed up (a password set) and not disabled.
        public var isActive: Bool { passwordHash != nil && disabledAt == nil }
    }

    static func staff(_ row: SQLRow) throws -> Staff {
        Staff(id: try row.string("id"), tenant: try row.string("tenant_id"), email: try row.string("email"), name: try row.string("name"),
              role: StaffRole(rawValue: try row.string("role")) ?? .frontdesk, passwordHash: try row.optionalString("password_hash"),
              failedLogins: try row.int("failed_logins"), lockedUntil: try row.int("locked_until"), disabledAt: try row.optionalInt("disabled_at"),
              createdAt: try row.int("created_at"))
    }

    public static func insert(_ staff: Staff, on connection: any SQLConnection) throws {
        do {
            try connection.execute("""
                INSERT INTO staff (id, tenant_id, email, name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(staff.id), .text(staff.tenant), .text(staff.email), .text(staff.name), .text(staff.role.rawValue), SQLValue(staff.passwordHash),
                      .int(staff.createdAt), .int(staff.createdAt)])
        } catch let error as SQLError where error.code == .uniqueViolation {
            throw DomainError(.conflict, "\(staff.email) is already on the staff.")
        }
    }

    public static func get(tenant: String, id: String, on connection: any SQLConnection) throws -> Staff? {
        try connection.first("SELECT * FROM staff WHERE tenant_id = ? AND id = ?", [.text(tenant), .text(id)]).map(staff)
    }

    public static func get(tenant: String, email: String, on connection: any SQLConnection) throws -> Staff? {
        try connection.first("SELECT * FROM staff WHERE tenant_id = ? AND email = ?", [.text(tenant), .text(email)]).map(staff)
    }

    /// Every tenant's staff member with this e-mail, with the tenant's name.
    public static func withEmail(_ email: String, on connection: any SQLConnection) throws -> [(staff: Staff, tenantName: String)] {
        try connection.query("""
            SELECT s.*, t.name AS tenant_name FROM staff s JOIN tenants t ON t.id = s.tenant_id WHERE s.email = ? ORDER BY t.name, s.tenant_id LIMIT 20
            """, [.text(email)]).map { (try staff($0), try $0.string("tenant_name")) }
    }

    public static func list(tenant: String, on connection: any SQLConnection) throws -> [Staff] {
        try connection.query("SELECT * FROM staff WHERE tenant_id = ? ORDER BY created_at, id", [.text(tenant)]).map(staff)
    }

    public static func update(_ staff: Staff, now: Int64, on connection: any SQLConnection) throws {
        try connection.execute("""
            UPDATE staff SET name = ?, role = ?, password_hash = ?, failed_logins = ?, locked_until = ?, disabled_at = ?, updated_at = ?
            WHERE tenant_id = ? AND id = ?
            """, [.text(staff.name), .text(staff.role.rawValue), SQLValue(staff.passwordHash), .int(staff.failedLogins), .int(staff.lockedUntil),
                  SQLValue(staff.disabledAt), .int(now), .text(staff.tenant), .text(staff.id)])
    }

    /// Owners still able to sign in, to keep a tenant from losing its last one.
    public static func activeOwners(tenant: String, on connection: any SQLConnection) throws -> Int64 {
        try connection.first("""
            SELECT COUNT(*) AS n FROM staff WHERE tenant_id = ? AND role = 'owner' AND disabled_at IS NULL AND password_hash IS NOT NULL
            """, [.text(tenant)])?.int("n") ?? 0
    }

    // MARK: Invitations

    public static func invite(tokenHash: String, tenant: String, staff: String, createdBy: String?, now: Int64, expiresAt: Int64,
                              on connection: any SQLConnection) throws {
        // A new invitation replaces any open one: only the newest link works.
        try connection.execute("DELETE FROM staff_invitations WHERE staff_id = ? AND used_at IS NULL", [.text(staff)])
        try connection.execute("""
            INSERT INTO staff_invitations (token_hash, tenant_id, staff_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
            """, [.text(tokenHash), .text(tenant), .text(staff), SQLValue(createdBy), .int(now), .int(expiresAt)])
    }

    /// The staff member an open, unexpired invitation is for; nil otherwise.
    public static func invitation(tokenHash: String, now: Int64, on connection: any SQLConnection) throws -> Staff? {
        guard let row = try connection.first("""
            SELECT staff_id, tenant_id FROM staff_invitations WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
            """, [.text(tokenHash), .int(now)]) else { return nil }
        return try get(tenant: try row.string("tenant_id"), id: try row.string("staff_id"), on: connection)
    }

    /// Marks the invitation used; false when another request used it first.
    public static func useInvitation(tokenHash: String, now: Int64, on connection: any SQLConnection) throws -> Bool {
        try connection.execute("UPDATE staff_invitations SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
                               [.int(now), .text(tokenHash), .int(now)]) == 1
    }

    // MARK: Sessions

    public struct Session: Sendable {
        public let tenant: String
        public let tenantName: String
        public let staff: Staff
        public let csrfToken: String
        public let createdAt: Int64
        public let lastSeenAt: Int64
        public let expiresAt: Int64
    }

    public static func openSession(idHash: String, staff: Staff, csrfToken: String, now: Int64, expiresAt: Int64, on connection: any SQLConnection) throws {
        try connection.execute("""
            INSERT INTO staff_sessions (id_hash, tenant_id, staff_id, csrf_token, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [.text(idHash), .text(staff.tenant), .text(staff.id), .text(csrfToken), .int(now), .int(now), .int(expiresAt)])
    }

    /// A session still open (not revoked, not expired, its staff member still active).
    public static func session(idHash: String, now: Int64, on connection: any SQLConnection) throws -> Session? {
        guard let row = try connection.first("""
            SELECT s.*, x.csrf_token, x.created_at AS session_created_at, x.last_seen_at, x.expires_at AS session_expires_at, t.name AS tenant_name
            FROM staff_sessions x JOIN staff s ON s.id = x.staff_id JOIN tenants t ON t.id = x.tenant_id
            WHERE x.id_hash = ? AND x.revoked_at IS NULL AND x.expires_at > ? AND s.disabled_at IS NULL AND s.password_hash IS NOT NULL
              AND t.suspended_at IS NULL
            """, [.text(idHash), .int(now)]) else { return nil }
        return Session(tenant: try row.string("tenant_id"), tenantName: try row.string("tenant_name"), staff: try staff(row),
                       csrfToken: try row.string("csrf_token"), createdAt: try row.int("session_created_at"), lastSeenAt: try row.int("last_seen_at"), expiresAt: try row.int("session_expires_at"))
    }

    /// Moves an idle session's end on (`expiresAt` never passes `hardLimit`).
    public static func touchSession(idHash: String, now: Int64, expiresAt: Int64, on connection: any SQLConnection) throws {
        try connection.execute("UPDATE staff_sessions SET last_seen_at = ?, expires_at = ? WHERE id_hash = ? AND revoked_at IS NULL",
                               [.int(now), .int(expiresAt), .text(idHash)])
    }

    public static func revokeSession(idHash: String, now: Int64, on connection: any SQLConnection) throws {
        try connection.execute("UPDATE staff_sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL", [.int(now), .text(idHash)])
    }

    /// Signs a staff member out everywhere (disabled, role changed, password changed).
    public static func revokeSessions(staff: String, now: Int64, on connection: any SQLConnection) throws {
        try connection.execute("UPDATE staff_sessions SET revoked_at = ? WHERE staff_id = ? AND revoked_at IS NULL", [.int(now), .text(staff)])
    }

    /// Forgets sessions and invitations that ended before `before`.
    public static func purge(before: Int64, limit: Int, on connection: any SQLConnection) throws -> Int {
        let sessions = try connection.execute("""
            DELETE FROM staff_sessions WHERE id_hash IN (SELECT id_hash FROM staff_sessions WHERE expires_at < ? ORDER BY expires_at LIMIT ?)
            """, [.int(before), .int(Int64(limit))])
        let invitations = try connection.execute("""
            DELETE FROM staff_invitations WHERE token_hash IN (SELECT token_hash FROM staff_invitations WHERE expires_at < ? ORDER BY expires_at LIMIT ?)
            """, [.int(before), .int(Int64(limit))])
        return sessions + invitations
    }
}

/// Who did what in a tenant's web app.
public enum AuditLog {
    public struct Entry: Sendable, Equatable {
        public let id: Int64
        public let staffID: String?
        public let staffEmail: String
        public let action: String
        public let subject: String
        public let detail: String
        public let at: Int64
    }

    public static func record(tenant: String, staffID: String?, staffEmail: String, action: String, subject: String, detail: String, now: Int64,
                              on connection: any SQLConnection) throws {
        try connection.execute("""
            INSERT INTO audit_log (tenant_id, staff_id, staff_email, action, subject, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [.text(tenant), SQLValue(staffID), .text(staffEmail), .text(action), .text(subject), .text(detail), .int(now)])
    }

    public static func list(tenant: String, limit: Int, before: Int64? = nil, on connection: any SQLConnection) throws -> [Entry] {
        try connection.query("""
            SELECT * FROM audit_log WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT ?
            """, [.text(tenant), .int(before ?? .max), .int(Int64(limit))]).map { row in
            Entry(id: try row.int("id"), staffID: try row.optionalString("staff_id"), staffEmail: try row.string("staff_email"), action: try row.string("action"),
                  subject: try row.string("subject"), detail: try row.string("detail"), at: try row.int("at"))
        }
    }
}
