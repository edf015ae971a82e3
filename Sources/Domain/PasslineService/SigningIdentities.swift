import ApplePass
import LoyaltyRules
import PasslineSQL
import PasslineStore
import Synchronization

/// Tenants' signing identities, unsealed once and kept in memory. An identity can be replaced
/// by another process (`passline tenant identity set` while `serve` runs), so a cached entry is
/// checked against the store's `updated_at` once it is older than `recheckMilliseconds`; the
/// process that replaces it calls `invalidate` and sees the new one at once.
public final class SigningIdentities: Sendable {
    /// An identity and the stamp (`signing_identities.updated_at`) of the row it came from.
    public struct Entry: Sendable {
        public let identity: PassSigningIdentity
        public let stamp: Int64
    }

    private struct Cached { var entry: Entry; var checkedAt: Int64 }
    public let tenants: Tenants
    public let recheckMilliseconds: Int64
    private let cache = Mutex<[String: Cached]>([:])

    public init(tenants: Tenants, recheckMilliseconds: Int64 = 5_000) {
        self.tenants = tenants
        self.recheckMilliseconds = recheckMilliseconds
    }

    /// The tenant's current identity.
    /// - Throws: `DomainError.notFound` when the tenant has none; unsealing and parsing errors.
    public func entry(tenant: String, now: Int64 = WallClock.milliseconds()) async throws -> Entry {
        if let cached = cache.withLock({ $0[tenant] }) {
            if now - cached.checkedAt < recheckMilliseconds { return cached.entry }
            if try await stamp(tenant: tenant) == cached.entry.stamp {
                cache.withLock { $0[tenant]?.checkedAt = now }
                return cached.entry
            }
        }
        let loaded = try await tenants.signingIdentityEntry(tenant: tenant)
        cache.withLock { $0[tenant] = Cached(entry: loaded, checkedAt: now) }
        return loaded
    }

    public func identity(tenant: String) async throws -> PassSigningIdentity { try await entry(tenant: tenant).identity }

    /// The stamp of the tenant's identity in the store now; nil when it has none.
    public func stamp(tenant: String) async throws -> Int64? {
        try await tenants.database.withConnection { connection in
            try connection.first("SELECT updated_at FROM signing_identities WHERE tenant_id = ?", [.text(tenant)])?.int("updated_at")
        }
    }

    public func invalidate(tenant: String) { _ = cache.withLock { $0.removeValue(forKey: tenant) } }
}
