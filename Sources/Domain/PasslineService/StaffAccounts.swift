import LoyaltyRules
import PasslineCrypto
import PasslineSQL
import PasslineStore

/// Why a sign-in or an invitation did not go through. The words are for the person at the
/// sign-in form: they never tell whether an address has an account.
public struct StaffAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case wrongCredentials
        /// Too many wrong passwords: the account waits until this time (milliseconds).
        case locked(until: Int64)
        /// The invitation link is unknown, used or expired.
        case invitationInvalid
        /// The business is suspended by the platform's operator, for this reason.
        case suspended(String)
    }

    public let code: Code
    public let message: String
    public var description: String { message }

    init(_ code: Code) {
        self.code = code
        switch code {
        case .wrongCredentials: message = "That e-mail address and password do not match an account."
        case .locked(let until):
            let minutes = max(1, (until - WallClock.milliseconds() + 59_999) / 60_000)
            message = "Too many wrong passwords: this account is locked for \(minutes) more minute\(minutes == 1 ? "" : "s")."
        case .invitationInvalid: message = "This invitation link is not valid any more (used, expired or replaced); ask for a new one."
        case .suspended(let reason): message = "This business is suspended by the platform's operator (\(reason)); ask them to resume it."
        }
    }
}

/// The staff of each business: invitations, passwords, sign-in with lockout, sessions that the
/// server can end, and the audit log of what each person did.
public final class StaffAccounts: Sendable {
    public typealias Staff = StaffRows.Staff
    public typealias Session = StaffRows.Session

    public let database: any SQLDatabase
    let hasher: PasswordHasher
    let publicURL: String

    public static let invitationLifetime: Int64 = 7 * 86_400_000
    /// A session ends after this long without a request, and after `sessionLimit` in any case.
    public static let sessionIdle: Int64 = 12 * 3_600_000
    public static let sessionLimit: Int64 = 7 * 86_400_000
    /// Wrong passwords in a row that lock an account, and for how long.
    public static let lockAfter: Int64 = 5
    public static let lockFor: Int64 = 15 * 60_000

    public init(database: any SQLDatabase, publicURL: String, hasher: PasswordHasher = PasswordHasher()) {
        self.database = database
        self.publicURL = publicURL
        self.hasher = hasher
    }

    /// Who did something: a staff member, or the operator (CLI, admin API).
    public struct Actor: Sendable {
        public let staffID: String?
        public let email: String
        public static let `operator` = Actor(staffID: nil, email: "operator")
        public init(staffID: String?, email: String) { self.staffID = staffID; self.email = email }
        public init(_ session: Session) { self.init(staffID: session.staff.id, email: session.staff.email) }
    }

    public struct Invitation: Sendable {
        public let staff: Staff
        /// The one-time sign-in link; shown once.
        public let link: String
        public let expiresAt: Int64
    }

    /// Adds a staff member (or renews the invitation of one who has not signed up yet) and
    /// returns the one-time link that lets them choose a password.
    /// - Throws: `DomainError.invalid` for a bad address, `.conflict` when the address already
    ///   has an account at this tenant, `.notFound` for an unknown tenant.
    public func invite(tenant: String, email rawEmail: String, role: StaffRole, name: String = "", by actor: Actor,
                       now: Int64 = WallClock.milliseconds()) async throws -> Invitation {
        let email = StaffRules.normalized(rawEmail)
        var faults: [DomainError.Fault] = []
        if let fault = StaffRules.emailFault(email) { faults.append(.init("email", fault)) }
        do { try TextRules.check(name, field: "name", maxLength: 120) } catch let error as DomainError { faults.append(.init("name", error.message)) }
        try DomainError.check(faults, "The invitation is not valid")
        let token = SecureRandom.token(length: 40)
        let staff = try await database.transaction { connection -> Staff in
            guard try TenantRows.exists(tenant, on: connection) else { throw DomainError(.notFound, "No tenant \(tenant).") }
            var staff: Staff
            if let existing = try StaffRows.get(tenant: tenant, email: email, on: connection) {
                guard existing.passwordHash == nil else {
                    throw DomainError(.conflict, "\(email) already has an account here; change its role on the staff page instead.")
                }
                staff = existing
                staff.role = role
                if !name.isEmpty { staff.name = name }
                try StaffRows.update(staff, now: now, on: connection)
            } else {
                staff = Staff(id: "st_" + SecureRandom.token(length: 20), tenant: tenant, email: email, name: name, role: role, createdAt: now)
                try StaffRows.insert(staff, on: connection)
            }
            try StaffRows.invite(tokenHash: Self.digest(token), tenant: tenant, staff: staff.id, createdBy: actor.staffID, now: now,
                                 expiresAt: now + Self.invitationLifetime, on: connection)
            try AuditLog.record(tenant: tenant, staffID: actor.staffID, staffEmail: actor.email, action: "staff.invited", subject: email,
                                detail: role.rawValue, now: now, on: connection)
            return staff
        }
        return Invitation(staff: staff, link: "\(publicURL)/app/invite/\(token)", expiresAt: now + Self.invitationLifetime)
    }

    /// Whom an invitation link is for, while it is open.
    public func invitation(token: String, now: Int64 = WallClock.milliseconds()) async throws -> (staff: Staff, tenantName: String)? {
        guard Self.plausible(token) else { return nil }
        return try await database.withConnection { connection in
            guard let staff = try StaffRows.invitation(tokenHash: Self.digest(token), now: now, on: connection) else { return nil }
            return (staff, try TenantRows.name(staff.tenant, on: connection) ?? staff.tenant)
        }
    }

    public struct SignedIn: Sendable {
        /// The cookie's value: the session's only copy outside the browser is its digest.
        public let cookie: String
        public let session: Session
    }

    /// Takes up an invitation: sets the password (and name) and signs in.
    /// - Throws: `StaffAuthError(.invitationInvalid)`, `DomainError.invalid` naming what the password lacks.
    public func accept(token: String, password: String, name: String?, now: Int64 = WallClock.milliseconds()) async throws -> SignedIn {
        if let fault = StaffRules.passwordFault(password) { throw DomainError(.invalid, "The password \(fault).", faults: [.init("password", fault)]) }
        if let name { try TextRules.check(name, field: "name", maxLength: 120) }
        guard Self.plausible(token), try await invitation(token: token, now: now) != nil else { throw StaffAuthError(.invitationInvalid) }
        let hash = try await hasher.make(password)
        return try await database.transaction { connection in
            guard var staff = try StaffRows.invitation(tokenHash: Self.digest(token), now: now, on: connection),
                  try StaffRows.useInvitation(tokenHash: Self.digest(token), now: now, on: connection) else { throw StaffAuthError(.invitationInvalid) }
            staff.passwordHash = hash
            staff.failedLogins = 0
            staff.lockedUntil = 0
            if let name, !name.isEmpty { staff.name = name }
            try StaffRows.update(staff, now: now, on: connection)
            try StaffRows.revokeSessions(staff: staff.id, now: now, on: connection)
            try AuditLog.record(tenant: staff.tenant, staffID: staff.id, staffEmail: staff.email, action: "staff.joined", subject: staff.email,
                                detail: staff.role.rawValue, now: now, on: connection)
            return try self.openSession(staff, now: now, on: connection)
        }
    }

    public enum SignIn: Sendable {
        case signedIn(SignedIn)
        /// The address and password fit accounts at several businesses: which one?
        case chooseTenant([(id: String, name: String)])
    }

    /// Checks an e-mail address and password. Five wrong passwords in a row lock an account for
    /// fifteen minutes; an unknown address costs as much time as a wrong password.
    /// - Parameter tenant: the business chosen, when the address works at several.
    /// - Throws: `StaffAuthError` (`.wrongCredentials`, `.locked`).
    public func signIn(email rawEmail: String, password: String, tenant: String? = nil, now: Int64 = WallClock.milliseconds()) async throws -> SignIn {
        let email = StaffRules.normalized(rawEmail)
        guard StaffRules.emailFault(email) == nil, password.utf8.count <= StaffRules.maxPasswordBytes else { throw StaffAuthError(.wrongCredentials) }
        let candidates = try await database.withConnection { try StaffRows.withEmail(email, on: $0) }
            .filter { $0.staff.isActive && (tenant == nil || $0.staff.tenant == tenant) }.prefix(5)
        guard !candidates.isEmpty else {
            await hasher.decoy(password)
            throw StaffAuthError(.wrongCredentials)
        }
        var matched: [(staff: Staff, tenantName: String)] = []
        var lockedUntil: Int64?
        for candidate in candidates {
            if candidate.staff.lockedUntil > now {
                lockedUntil = max(lockedUntil ?? 0, candidate.staff.lockedUntil)
                continue
            }
            if await hasher.check(password, against: candidate.staff.passwordHash ?? "") {
                matched.append(candidate)
            } else {
                try await recordFailure(candidate.staff, now: now)
            }
        }
        if matched.count > 1 { return .chooseTenant(matched.map { ($0.staff.tenant, $0.tenantName) }) }
        guard let (staff, _) = matched.first else {
            if let lockedUntil { throw StaffAuthError(.locked(until: lockedUntil)) }
            throw StaffAuthError(.wrongCredentials)
        }
        // Told only after the password matched: the reason is the business's own affair.
        if let reason = try await database.withConnection({ try TenantRows.suspension(staff.tenant, on: $0) }) {
            throw StaffAuthError(.suspended(reason))
        }
        return .signedIn(try await database.transaction { connection in
            var current = try StaffRows.get(tenant: staff.tenant, id: staff.id, on: connection) ?? staff
            current.failedLogins = 0
            current.lockedUntil = 0
            try StaffRows.update(current, now: now, on: connection)
            return try self.openSession(current, now: now, on: connection)
        })
    }

    private func recordFailure(_ staff: Staff, now: Int64) async throws {
        try await database.transaction { connection in
            guard var current = try StaffRows.get(tenant: staff.tenant, id: staff.id, on: connection) else { return }
            current.failedLogins += 1
            if current.failedLogins >= Self.lockAfter {
                current.lockedUntil = now + Self.lockFor
                current.failedLogins = 0
                try AuditLog.record(tenant: staff.tenant, staffID: staff.id, staffEmail: staff.email, action: "staff.locked", subject: staff.email,
                                    detail: "\(Self.lockAfter) wrong passwords", now: now, on: connection)
            }
            try StaffRows.update(current, now: now, on: connection)
        }
    }

    private func openSession(_ staff: Staff, now: Int64, on connection: any SQLConnection) throws -> SignedIn {
        let cookie = SecureRandom.token(length: 43)
        let csrf = SecureRandom.token(length: 32)
        try StaffRows.openSession(idHash: Self.digest(cookie), staff: staff, csrfToken: csrf, now: now, expiresAt: now + Self.sessionIdle, on: connection)
        guard let session = try StaffRows.session(idHash: Self.digest(cookie), now: now, on: connection) else {
            throw DomainError(.conflict, "The session could not be opened.")
        }
        return SignedIn(cookie: cookie, session: session)
    }

    /// The open session a cookie names; nil when it is unknown, ended, revoked, or its staff
    /// member was disabled. A session in use moves its idle end on (at most once a minute).
    public func session(cookie: String, now: Int64 = WallClock.milliseconds()) async throws -> Session? {
        guard Self.plausible(cookie) else { return nil }
        let hash = Self.digest(cookie)
        guard let session = try await database.withConnection({ try StaffRows.session(idHash: hash, now: now, on: $0) }) else { return nil }
        if now - session.lastSeenAt > 60_000 {
            let end = min(now + Self.sessionIdle, session.createdAt + Self.sessionLimit)
            try await database.withConnection { try StaffRows.touchSession(idHash: hash, now: now, expiresAt: end, on: $0) }
        }
        return session
    }

    public func signOut(cookie: String, now: Int64 = WallClock.milliseconds()) async throws {
        guard Self.plausible(cookie) else { return }
        try await database.withConnection { try StaffRows.revokeSession(idHash: Self.digest(cookie), now: now, on: $0) }
    }

    // MARK: The staff page (owners)

    public func list(tenant: String) async throws -> [Staff] {
        try await database.withConnection { try StaffRows.list(tenant: tenant, on: $0) }
    }

    /// Changes a staff member's role or disables them; their sessions end. A tenant keeps at
    /// least one owner who can sign in.
    /// - Throws: `.notFound` (another tenant's staff alike), `.conflict` for the last owner.
    public func change(tenant: String, staffID: String, role: StaffRole?, disabled: Bool?, by actor: Actor,
                       now: Int64 = WallClock.milliseconds()) async throws -> Staff {
        try await database.transaction { connection in
            guard var staff = try StaffRows.get(tenant: tenant, id: staffID, on: connection) else { throw DomainError(.notFound, "No staff member \(staffID).") }
            let before = staff
            if let role { staff.role = role }
            if let disabled { staff.disabledAt = disabled ? (staff.disabledAt ?? now) : nil }
            guard staff != before else { return staff }
            try StaffRows.update(staff, now: now, on: connection)
            if before.role == .owner && before.isActive, try StaffRows.activeOwners(tenant: tenant, on: connection) == 0 {
                throw DomainError(.conflict, "\(staff.email) is the last owner who can sign in; make someone else an owner first.")
            }
            try StaffRows.revokeSessions(staff: staff.id, now: now, on: connection)
            let detail = [role.map { "role \($0.rawValue)" }, disabled.map { $0 ? "disabled" : "enabled" }].compactMap { $0 }.joined(separator: ", ")
            try AuditLog.record(tenant: tenant, staffID: actor.staffID, staffEmail: actor.email, action: "staff.changed", subject: staff.email,
                                detail: detail, now: now, on: connection)
            return staff
        }
    }

    // MARK: The audit log

    public func record(_ actor: Actor, tenant: String, action: String, subject: String, detail: String = "",
                       now: Int64 = WallClock.milliseconds()) async throws {
        try await database.withConnection { connection in
            try AuditLog.record(tenant: tenant, staffID: actor.staffID, staffEmail: actor.email, action: action, subject: subject, detail: detail,
                                now: now, on: connection)
        }
    }

    public func auditLog(tenant: String, limit: Int = 100, before: Int64? = nil) async throws -> [AuditLog.Entry] {
        try await database.withConnection { try AuditLog.list(tenant: tenant, limit: min(max(limit, 1), 500), before: before, on: $0) }
    }

    static func digest(_ token: String) -> String { Digest.hex(Digest.sha256(Array(token.utf8))) }

    /// Tokens are ours: anything else is refused before it reaches the store.
    static func plausible(_ token: String) -> Bool {
        (20...64).contains(token.utf8.count) && token.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }
    }
}
