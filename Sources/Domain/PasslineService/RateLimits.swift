import LoyaltyRules
import PasslineSQL
import PasslineStore
import Synchronization

/// The partner API's limits: a bucket per API key, and a ceiling per tenant. On PostgreSQL the
/// buckets live in the store, one statement a request, so several processes share one limit
/// (a limit each process kept alone would multiply with their count); on SQLite, which one
/// process serves, in memory.
public final class RateLimits: Sendable {
    let database: any SQLDatabase
    let shared: Bool
    public let defaults: Defaults
    private let buckets = Mutex<[String: Int64]>([:])
    /// Requests taken from shared buckets and not yet spent, with when they were taken.
    private let leases = Mutex<[String: Lease]>([:])
    struct Lease {
        var tokens: Int64
        let takenAt: Int64
        let decision: RateLimit.Decision
    }
    /// A lease older than this is dropped: its tokens were meant for now, not for later.
    static let leaseMilliseconds: Int64 = 1_000
    private let plans = BoundedCache<String, CachedPlan>(maxCount: 10_000, maxBytes: 4 << 20)
    struct CachedPlan: Sendable {
        let plan: RateLimit?
        let readAt: Int64
    }

    public struct Defaults: Sendable, Equatable {
        /// Each API key's bucket.
        public var key: RateLimit
        /// All of a tenant's keys together: a ceiling, so that many keys do not multiply it.
        public var tenantMultiple: Int64
        public init(key: RateLimit = RateLimit(perSecond: 100, burst: 500), tenantMultiple: Int64 = 2) {
            self.key = key
            self.tenantMultiple = tenantMultiple
        }
    }

    /// The time buckets are measured by (tests freeze it).
    let clock: @Sendable () -> Int64

    public init(database: any SQLDatabase, defaults: Defaults = Defaults(), shared: Bool? = nil,
                clock: @escaping @Sendable () -> Int64 = { WallClock.milliseconds() }) {
        self.database = database
        self.defaults = defaults
        self.shared = shared ?? (database.dialect == .postgres)
        self.clock = clock
    }

    /// What a request of the key finds: the key's decision, or the tenant's when that refuses.
    public struct Outcome: Sendable, Equatable {
        public let name: String
        public let limit: RateLimit
        public let decision: RateLimit.Decision
    }

    /// Takes a request from the key's bucket and the tenant's.
    /// - Parameter keyID: a stable, non-secret name of the key (a prefix of its hash).
    public func take(tenant: String, keyID: String, now: Int64? = nil) async throws -> Outcome {
        let now = now ?? clock()
        let keyLimit = try await plan(tenant: tenant) ?? defaults.key
        let tenantLimit = RateLimit(perSecond: keyLimit.perSecond * defaults.tenantMultiple, burst: keyLimit.burst * defaults.tenantMultiple)
        let key = try await take("key:\(keyID)", keyLimit, now: now)
        guard key.allowed else { return Outcome(name: "key", limit: keyLimit, decision: key) }
        let ceiling = try await take("tenant:\(tenant)", tenantLimit, now: now)
        return ceiling.allowed ? Outcome(name: "key", limit: keyLimit, decision: key) : Outcome(name: "tenant", limit: tenantLimit, decision: ceiling)
    }

    private func take(_ key: String, _ limit: RateLimit, now: Int64) async throws -> RateLimit.Decision {
        if shared {
            // Spend from this process's lease first; take another chunk (or one) from the store.
            if let spent = leases.withLock({ leases -> RateLimit.Decision? in
                guard var lease = leases[key], lease.tokens > 0, now - lease.takenAt < Self.leaseMilliseconds else { return nil }
                lease.tokens -= 1
                leases[key] = lease
                return RateLimit.Decision(allowed: true, tat: lease.decision.tat, remaining: lease.decision.remaining + lease.tokens,
                                          resetSeconds: lease.decision.resetSeconds, retryAfterSeconds: nil)
            }) {
                return spent
            }
            let chunk = limit.chunk
            let taken = try await database.withConnection { connection -> (RateLimit.Decision, Int64) in
                let decision = try RateLimitRows.take(key, limit: limit, cost: chunk, now: now, on: connection)
                if decision.allowed || chunk == 1 { return (decision, chunk) }
                return (try RateLimitRows.take(key, limit: limit, now: now, on: connection), 1)
            }
            if taken.0.allowed && taken.1 > 1 {
                leases.withLock { leases in
                    leases[key] = Lease(tokens: taken.1 - 1, takenAt: now, decision: taken.0)
                    if leases.count > 100_000 { leases = leases.filter { now - $0.value.takenAt < Self.leaseMilliseconds } }
                }
            }
            return taken.0
        }
        return buckets.withLock { buckets in
            let decision = limit.decide(tat: buckets[key], now: now)
            if decision.allowed { buckets[key] = decision.tat }
            // Buckets full again are forgotten, so random keys cannot grow memory.
            if buckets.count > 100_000 { buckets = buckets.filter { $0.value > now } }
            return decision
        }
    }

    /// A tenant's own plan (read at most every 5 s), nil for the defaults.
    public func plan(tenant: String) async throws -> RateLimit? {
        let now = WallClock.milliseconds()
        if let cached = plans.value(for: tenant), now - cached.readAt < 5_000 { return cached.plan }
        let plan = try await database.withConnection { try RateLimitRows.plan(tenant: tenant, on: $0) }
        plans.store(CachedPlan(plan: plan, readAt: now), for: tenant, bytes: 64)
        return plan
    }

    /// The operator sets a tenant's plan (nil: back to the defaults).
    /// - Throws: `DomainError.invalid` for numbers out of range, `.notFound` for an unknown tenant.
    public func setPlan(_ plan: RateLimit?, tenant: String) async throws {
        if let plan {
            var faults: [DomainError.Fault] = []
            if !RateLimit.perSecondRange.contains(plan.perSecond) { faults.append(.init("perSecond", "must be 1 to 100,000")) }
            if !RateLimit.burstRange.contains(plan.burst) { faults.append(.init("burst", "must be 1 to 1,000,000")) }
            try DomainError.check(faults, "The rate limit is not valid")
        }
        guard try await database.transaction({ try RateLimitRows.setPlan(plan, tenant: tenant, on: $0) }) else {
            throw DomainError(.notFound, "No tenant \(tenant).")
        }
        plans.removeAll { $0 == tenant }
    }
}
