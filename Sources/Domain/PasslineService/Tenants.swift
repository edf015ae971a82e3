import ApplePass
import Foundation
import LoyaltyRules
import PasslineCrypto
import PasslineSQL
import PasslineStore

/// Tenants: each a business with its own signing identity and API keys.
public struct Tenants: Sendable {
    public let database: any SQLDatabase
    public let secrets: SecretBox

    public init(database: any SQLDatabase, secrets: SecretBox) {
        self.database = database
        self.secrets = secrets
    }

    /// What creating a tenant returns: the only time its keys are shown.
    public struct Created: Codable, Sendable, Equatable {
        public let id: String
        public let name: String
        public let passTypeIdentifier: String
        public let liveKey: String
        public let testKey: String
    }

    /// Creates a tenant with its signing identity and one live and one test API key.
    /// The identity must sign and verify a canary first; its private key is stored sealed.
    /// - Throws: `PassError.invalidIdentity` when the identity cannot sign, `DomainError` for bad names.
    public func create(name: String, identity: PassSigningIdentity, now: Int64 = WallClock.milliseconds()) async throws -> Created {
        try Self.canary(identity)
        let id = "tn_" + SecureRandom.token(length: 16)
        let keyPEM = try identity.signerKey.pemBytes()
        let sealedKey = try secrets.seal(keyPEM, context: "signing_identities.private_key:\(id)")
        let liveKey = APIKey.generate(mode: CardMode.live.rawValue), testKey = APIKey.generate(mode: CardMode.test.rawValue)
        let certificate = identity.certificate, intermediate = identity.intermediate
        let notAfter = Int64(certificate.notAfter.timeIntervalSince1970 * 1000)
        try await database.transaction { connection in
            try TenantRows.create(id: id, name: name, now: now, on: connection)
            try connection.execute("""
                INSERT INTO signing_identities (tenant_id, pass_type_identifier, team_identifier, certificate_pem, intermediate_pem,
                                                private_key_encrypted, not_after, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(id), .text(identity.passTypeIdentifier), .text(identity.teamIdentifier), .blob(certificate.pemBytes),
                      .blob(intermediate.pemBytes), .blob(sealedKey), .int(notAfter), .int(now)])
            for key in [liveKey, testKey] { try Self.insert(key: key, tenant: id, now: now, on: connection) }
        }
        return Created(id: id, name: name, passTypeIdentifier: identity.passTypeIdentifier, liveKey: liveKey, testKey: testKey)
    }

    /// Makes a new API key for a tenant and returns it (shown only now).
    /// - Throws: `DomainError.notFound` when the tenant does not exist.
    public func createKey(tenant: String, mode: CardMode, now: Int64 = WallClock.milliseconds()) async throws -> String {
        let key = APIKey.generate(mode: mode.rawValue)
        try await database.transaction { connection in
            guard try connection.first("SELECT id FROM tenants WHERE id = ?", [.text(tenant)]) != nil else {
                throw DomainError(.notFound, "Tenant \(tenant) does not exist.")
            }
            try Self.insert(key: key, tenant: tenant, now: now, on: connection)
        }
        return key
    }

    /// A tenant's API keys as their owners see them: the display prefix only, never the key.
    public struct KeyInfo: Sendable, Equatable {
        public let prefix: String
        public let mode: CardMode
        public let createdAt: Int64
        public let revokedAt: Int64?
    }

    /// The tenant's keys, newest first.
    public func keys(tenant: String) async throws -> [KeyInfo] {
        try await database.withConnection { connection in
            try connection.query("SELECT prefix, mode, created_at, revoked_at FROM api_keys WHERE tenant_id = ? ORDER BY created_at DESC, prefix",
                                 [.text(tenant)]).map { row in
                KeyInfo(prefix: try row.string("prefix"), mode: try row.mode("mode"), createdAt: try row.int("created_at"), revokedAt: try row.optionalInt("revoked_at"))
            }
        }
    }

    /// Revokes a tenant's key, named by its display prefix (`pl_live_Ab3d`) or in full.
    /// - Throws: `DomainError.notFound` when no such live key exists for the tenant.
    public func revokeKey(tenant: String, key: String, now: Int64 = WallClock.milliseconds()) async throws {
        let hash = APIKey.hash(key), prefix = APIKey.displayPrefix(key)
        let changed = try await database.withConnection { connection in
            try connection.execute("""
                UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND revoked_at IS NULL AND (key_hash = ? OR prefix = ?)
                """, [.int(now), .text(tenant), .blob(hash), .text(key.count > 12 ? "" : prefix)])
        }
        if changed == 0 { throw DomainError(.notFound, "Tenant \(tenant) has no active key \(prefix)….") }
    }

    /// The tenant and mode a presented key belongs to; nil for unknown or revoked keys.
    public func authenticate(key: String) async throws -> (tenant: String, mode: CardMode)? {
        try await credential(key: key).map { ($0.tenant, $0.mode) }
    }

    /// A key's tenant and mode, and why the tenant is suspended (nil when it is not): one query.
    public func credential(key: String) async throws -> (tenant: String, mode: CardMode, suspended: String?)? {
        guard APIKey.mode(of: key) != nil else { return nil }
        let hash = APIKey.hash(key)
        let row = try await database.withConnection { connection in
            try connection.first("""
                SELECT k.tenant_id, k.mode, k.key_hash, t.suspended_reason, t.suspended_at FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
                WHERE k.key_hash = ? AND k.revoked_at IS NULL
                """, [.blob(hash)])
        }
        // The index found the row by hash; compare again in constant time before trusting it.
        guard let row, ConstantTime.equal(try row.blob("key_hash"), hash) else { return nil }
        let suspended = try row.optionalInt("suspended_at") == nil ? nil : (try row.optionalString("suspended_reason") ?? "suspended")
        return (try row.string("tenant_id"), try row.mode("mode"), suspended)
    }

    /// Suspends a tenant: its API keys are refused naming `reason`, its staff cannot sign in (and
    /// are signed out), its pushes wait; passes already issued are still served.
    /// - Throws: `DomainError.notFound` for an unknown tenant, `.invalid` for an empty or long reason.
    public func suspend(tenant: String, reason: String, now: Int64 = WallClock.milliseconds()) async throws {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { throw DomainError(.invalid, "A suspension needs a reason; the tenant's API answers name it.", faults: [.init("reason", "is required")]) }
        guard try await database.transaction({ try TenantRows.setSuspension(tenant, reason: reason, now: now, on: $0) }) else {
            throw DomainError(.notFound, "Tenant \(tenant) does not exist.")
        }
    }

    /// Resumes a suspended tenant; its waiting pushes go out.
    public func resume(tenant: String, now: Int64 = WallClock.milliseconds()) async throws {
        guard try await database.transaction({ try TenantRows.setSuspension(tenant, reason: nil, now: now, on: $0) }) else {
            throw DomainError(.notFound, "Tenant \(tenant) does not exist.")
        }
    }

    /// Why the tenant is suspended; nil when it is not.
    public func suspension(tenant: String) async throws -> String? {
        try await database.withConnection { try TenantRows.suspension(tenant, on: $0) }
    }

    /// The tenant's signing identity, with its private key unsealed.
    public func signingIdentity(tenant: String) async throws -> PassSigningIdentity {
        try await signingIdentityEntry(tenant: tenant).identity
    }

    /// The tenant's signing identity and the stamp of its row (changed by every replacement).
    public func signingIdentityEntry(tenant: String) async throws -> SigningIdentities.Entry {
        guard let row = try await database.withConnection({ try $0.first("SELECT * FROM signing_identities WHERE tenant_id = ?", [.text(tenant)]) }) else {
            throw DomainError(.notFound, "Tenant \(tenant) has no signing identity.")
        }
        let keyPEM = try secrets.open(try row.blob("private_key_encrypted"), context: "signing_identities.private_key:\(tenant)")
        let identity = try PassSigningIdentity(
            certificate: try Certificate.loadPEM(try row.blob("certificate_pem"))[0],
            key: try PrivateKey(pem: keyPEM),
            intermediates: try Certificate.loadPEM(try row.blob("intermediate_pem"))
        )
        return .init(identity: identity, stamp: try row.int("updated_at"))
    }

    /// Replaces a tenant's signing identity (Pass Type ID certificates expire yearly). The new one
    /// must be for the same pass type identifier, since issued passes keep theirs, and must pass
    /// the sign-and-verify canary before it is stored. Pushes paused because APNs refused the old
    /// certificate resume in the same transaction.
    /// - Throws: `DomainError.notFound` for an unknown tenant, `PassError.invalidIdentity` for an
    ///   identity of another pass type or one that cannot sign.
    @discardableResult
    public func replaceIdentity(tenant: String, with identity: PassSigningIdentity, now: Int64 = WallClock.milliseconds()) async throws -> Info {
        try Self.canary(identity)
        let sealedKey = try secrets.seal(try identity.signerKey.pemBytes(), context: "signing_identities.private_key:\(tenant)")
        let notAfter = Int64(identity.certificate.notAfter.timeIntervalSince1970 * 1000)
        try await database.transaction { connection in
            guard let row = try connection.first("SELECT pass_type_identifier, updated_at FROM signing_identities WHERE tenant_id = ?", [.text(tenant)]) else {
                throw DomainError(.notFound, "Tenant \(tenant) does not exist.")
            }
            let current = try row.string("pass_type_identifier")
            guard current == identity.passTypeIdentifier else {
                throw PassError(.invalidIdentity, "The new certificate is for \(identity.passTypeIdentifier), but tenant \(tenant)'s passes are \(current): "
                                + "issued passes keep their pass type identifier, so the replacement must be a certificate for \(current).")
            }
            // The stamp must change even when two replacements land in one millisecond.
            let stamp = max(now, try row.int("updated_at") + 1)
            try connection.execute("""
                UPDATE signing_identities SET team_identifier = ?, certificate_pem = ?, intermediate_pem = ?, private_key_encrypted = ?,
                                              not_after = ?, updated_at = ? WHERE tenant_id = ?
                """, [.text(identity.teamIdentifier), .blob(identity.certificate.pemBytes), .blob(identity.intermediate.pemBytes),
                      .blob(sealedKey), .int(notAfter), .int(stamp), .text(tenant)])
            try Pushes.resume(tenant: tenant, now: now, on: connection)
        }
        return try await info(tenant: tenant, now: now)
    }

    /// What the APIs show of a tenant: its certificate's expiry and whether its pushes are paused.
    public struct Info: Sendable, Equatable {
        public let id: String
        public let name: String
        public let passTypeIdentifier: String
        public let teamIdentifier: String
        public let certificateNotAfter: Int64
        public let certificateFingerprint: String
        public let pushPausedReason: String?
        /// Why the operator suspended the tenant; nil when it is not suspended.
        public var suspendedReason: String? = nil
        /// Whole days left, rounded down (negative once expired).
        public let daysToExpiry: Int64
    }

    /// - Throws: `DomainError.notFound` for an unknown tenant.
    public func info(tenant: String, now: Int64 = WallClock.milliseconds()) async throws -> Info {
        guard let info = try await list(now: now, only: tenant).first else { throw DomainError(.notFound, "Tenant \(tenant) does not exist.") }
        return info
    }

    /// Every tenant, oldest first (`only` narrows it to one).
    public func list(now: Int64 = WallClock.milliseconds(), only: String? = nil) async throws -> [Info] {
        let rows = try await database.withConnection { connection in
            try connection.query("""
                SELECT t.id, t.name, t.push_paused_reason, t.suspended_reason, t.suspended_at, s.pass_type_identifier, s.team_identifier, s.not_after, s.certificate_pem
                FROM tenants t JOIN signing_identities s ON s.tenant_id = t.id
                WHERE t.id = ? OR ? = '' ORDER BY t.created_at, t.id
                """, [.text(only ?? ""), .text(only ?? "")])
        }
        return try rows.map { row in
            let notAfter = try row.int("not_after")
            let fingerprint = (try? Certificate.loadPEM(try row.blob("certificate_pem")))?.first?.fingerprintSHA256 ?? ""
            var info = Info(id: try row.string("id"), name: try row.string("name"), passTypeIdentifier: try row.string("pass_type_identifier"),
                            teamIdentifier: try row.string("team_identifier"), certificateNotAfter: notAfter, certificateFingerprint: fingerprint,
                            pushPausedReason: try row.optionalString("push_paused_reason"), daysToExpiry: Self.wholeDays(notAfter - now))
            if try row.optionalInt("suspended_at") != nil { info.suspendedReason = try row.optionalString("suspended_reason") ?? "suspended" }
            return info
        }
    }

    /// Rounds towards minus infinity: a certificate expired half a day ago has -1 days left, not 0.
    static func wholeDays(_ milliseconds: Int64) -> Int64 {
        let (q, r) = milliseconds.quotientAndRemainder(dividingBy: 86_400_000)
        return r < 0 ? q - 1 : q
    }

    private static func insert(key: String, tenant: String, now: Int64, on connection: any SQLConnection) throws {
        try connection.execute("INSERT INTO api_keys (id, tenant_id, prefix, key_hash, mode, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                               [.text("key_" + SecureRandom.token(length: 16)), .text(tenant), .text(APIKey.displayPrefix(key)),
                                .blob(APIKey.hash(key)), .text(APIKey.mode(of: key)!), .int(now)])
    }

    /// Signs random bytes and verifies the signature back to the intermediate, before an identity is trusted.
    static func canary(_ identity: PassSigningIdentity) throws {
        let probe = SecureRandom.bytes(64)
        let report = try DetachedSignatureCheck.check(signature: try identity.sign(probe), content: probe, trustAnchors: [identity.intermediate])
        guard report.signatureValid, report.chainProblem == .some(nil) else {
            throw PassError(.invalidIdentity, "The signing identity failed its sign-and-verify check: \(report.signatureProblem ?? (report.chainProblem ?? nil) ?? "unknown").")
        }
    }
}
