import Foundation
import LoyaltyRules
import PasslineCrypto
import PasslineService
import PasslineStore
import PasslineTestSupport
import Testing

@Suite("Rate limits on the partner API")
struct RateLimitTests {
    @Test("GCRA: a burst at once, then the rate; the wait and the refill in whole seconds; the extremes stay in range")
    func arithmetic() {
        let limit = RateLimit(perSecond: 2, burst: 3)
        var tat: Int64?
        var decisions: [RateLimit.Decision] = []
        for _ in 0..<4 {
            let decision = limit.decide(tat: tat, now: 10_000)
            if decision.allowed { tat = decision.tat }
            decisions.append(decision)
        }
        #expect(decisions.map(\.allowed) == [true, true, true, false])
        #expect(decisions.map(\.remaining) == [2, 1, 0, 0])
        #expect(decisions[3].retryAfterSeconds == 1 && decisions[2].resetSeconds == 2)
        // Half a second later one more request fits, not two.
        #expect(limit.decide(tat: tat, now: 10_500).allowed && !limit.decide(tat: tat, now: 10_499).allowed)
        #expect(limit.windowSeconds == 2)
        let widest = RateLimit(perSecond: RateLimit.perSecondRange.upperBound, burst: RateLimit.burstRange.upperBound)
        #expect(widest.decide(tat: .max / 4, now: 0).retryAfterSeconds != nil && widest.intervalMilliseconds == 1)
    }

    @Test("every answer carries RateLimit-Policy and RateLimit; past the key's burst a 429 with Retry-After; another key has its own bucket up to the tenant's ceiling; other tenants are untouched",
          arguments: TestDatabase.available)
    func headersAnd429(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind, rateLimit: RateLimit(perSecond: 1, burst: 3))
        let live = ["Authorization": "Bearer \(server.tenantA.liveKey)"], test = ["Authorization": "Bearer \(server.tenantA.testKey)"]
        var answers: [LiveServer.Reply] = []
        for _ in 0..<4 { answers.append(try await server.send("GET", "/api/v1/tenant", headers: live)) }
        #expect(answers.map(\.status) == [200, 200, 200, 429])
        #expect(answers[0].header("RateLimit-Policy") == #""key";q=3;w=3"# && answers[0].header("RateLimit") == #""key";r=2;t=1"#)
        #expect(answers[2].header("RateLimit") == #""key";r=0;t=3"#)
        #expect(answers[3].header("Retry-After") == "1" && answers[3].contentType == "application/problem+json")
        #expect((answers[3].json?["detail"] as? String)?.contains("3 requests at once, then 1 a second") == true)
        // An error answer carries the limit too.
        let missing = try await server.send("GET", "/api/v1/cards/nothing", headers: test)
        #expect(missing.status == 404 && missing.header("RateLimit") == #""key";r=2;t=1"#)
        // The test key's own bucket, until the tenant's ceiling (twice a key's: 6 at once) is spent.
        var statuses: [Int] = []
        for _ in 0..<4 { statuses.append(try await server.send("GET", "/api/v1/tenant", headers: test).status) }
        #expect(statuses == [200, 200, 429, 429], "\(statuses)")
        // Another tenant is untouched; a wrong key is a 401 before any bucket.
        #expect(try await server.send("GET", "/api/v1/tenant", headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 200)
        #expect(try await server.send("GET", "/api/v1/tenant", headers: ["Authorization": "Bearer pl_live_nothing"]).status == 401)
        await server.stop()
    }

    @Test("two instances on one store share one limit (on PostgreSQL the buckets are in the store); the operator's plan for a tenant replaces the default",
          arguments: TestDatabase.available)
    func sharedAndPlans(kind: TestDatabase) async throws {
        let database = try await kind.make()
        try await Migrator.migrate(database)
        let tenants = Tenants(database: database, secrets: try SecretBox(key: SecretBox.generateKey()))
        let tenant = try await tenants.create(name: "Lumen", identity: try TestSupport.identity.signingIdentity()).id
        let other = try await TestDatabase.reopen(database)
        let limit = RateLimit(perSecond: 1, burst: 5)
        let first = RateLimits(database: database, defaults: .init(key: limit), shared: true)
        let second = RateLimits(database: other, defaults: .init(key: limit), shared: true)
        var allowed = 0
        for index in 0..<10 {
            let limits = index.isMultiple(of: 2) ? first : second
            if try await limits.take(tenant: tenant, keyID: "k1", now: 50_000).decision.allowed { allowed += 1 }
        }
        #expect(allowed == 5, "five in all, not five each")
        // The tenant's ceiling (twice a key's) holds over its keys together.
        var second5 = 0
        for _ in 0..<6 where try await second.take(tenant: tenant, keyID: "k9", now: 50_000).decision.allowed { second5 += 1 }
        #expect(second5 == 5)
        let third = try await first.take(tenant: tenant, keyID: "k10", now: 50_000)
        #expect(!third.decision.allowed && third.name == "tenant" && third.limit.burst == 10)
        // A plan of the tenant's own: at once in the process that set it, within 5 s (its cache) in another.
        try await first.setPlan(RateLimit(perSecond: 10, burst: 20), tenant: tenant)
        #expect(try await first.take(tenant: tenant, keyID: "k2", now: 60_000).limit.burst == 20)
        let later = RateLimits(database: other, defaults: .init(key: limit), shared: true)
        #expect(try await later.plan(tenant: tenant) == RateLimit(perSecond: 10, burst: 20))
        await #expect(throws: DomainError.self) { try await first.setPlan(RateLimit(perSecond: 0, burst: 1), tenant: tenant) }
        await #expect(throws: DomainError.self) { try await first.setPlan(RateLimit(perSecond: 1, burst: 1), tenant: "nobody") }
        // A busy limit is taken in chunks (a tenth of a second's worth) and spent from memory: still
        // never more than the limit across both.
        let busyTenant = try await tenants.create(name: "Busy", identity: try TestSupport.identity.signingIdentity()).id
        let busy = RateLimit(perSecond: 100, burst: 100)
        #expect(busy.chunk == 10)
        let busyFirst = RateLimits(database: database, defaults: .init(key: busy), shared: true)
        let busySecond = RateLimits(database: other, defaults: .init(key: busy), shared: true)
        var busyAllowed = 0
        for index in 0..<150 where try await (index.isMultiple(of: 3) ? busyFirst : busySecond).take(tenant: busyTenant, keyID: "busy", now: 70_000).decision.allowed {
            busyAllowed += 1
        }
        #expect(busyAllowed == 100, "\(busyAllowed)")
        await other.close()
        await database.close()
    }
}
