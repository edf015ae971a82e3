import Logging
import LoyaltyRules
import PasslineCrypto
import PasslineSQL
import PasslineStore

/// Test clocks for test keys: a partner cannot wait 28 days to see a reminder, so test cards
/// may live on a clock of their own that the partner moves forward.
public final class TestClockService: Sendable {
    let database: any SQLDatabase
    let scheduler: PointsScheduler

    public init(database: any SQLDatabase, programs: Programs, jobs: JobQueue, logger: Logger) {
        self.database = database
        self.scheduler = PointsScheduler(database: database, programs: programs, jobs: jobs, logger: logger)
    }

    public typealias Clock = TestClocks.Clock

    public func create(tenant: String, frozenTime: Int64, now: Int64 = WallClock.milliseconds()) async throws -> Clock {
        let id = "clock_" + SecureRandom.token(length: 16)
        return try await database.transaction { try TestClocks.create(id: id, tenant: tenant, frozenTime: frozenTime, now: now, on: $0) }
    }

    /// - Throws: `DomainError.notFound` for another tenant's clock or none.
    public func get(tenant: String, id: String) async throws -> Clock {
        guard let clock = try await database.withConnection({ try TestClocks.get(.init(tenant: tenant, id: id), on: $0) }) else {
            throw DomainError(.notFound, "No test clock \(id).")
        }
        return clock
    }

    /// Moves the clock to `target`: `advancing` until every expiry and reminder due on its cards
    /// up to then has happened, in order, then `ready`. The work goes on after this returns
    /// (and after a restart, in `serve`'s scheduler).
    public func advance(tenant: String, id: String, to target: Int64) async throws -> Clock {
        let key = TestClocks.Key(tenant: tenant, id: id)
        let clock = try await database.transaction { try TestClocks.advance(key, to: target, on: $0) }
        let scheduler = self.scheduler
        Task { try? await scheduler.advance(key) }
        return clock
    }
}
