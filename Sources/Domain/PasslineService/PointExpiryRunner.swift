import Logging
import LoyaltyRules
import PasslineSQL
import PasslineStore
import ServiceLifecycle

/// Expires points when they fall due, not in a nightly batch: it sleeps until the soonest
/// lot's expiry (at most `recheckMilliseconds`, so that lots made meanwhile, or by another
/// process, are seen), then turns what is due into `expire` entries, a batch of cards of one
/// tenant and mode per transaction. Each expiry is a ledger change like any other, so it is
/// applied once: a lot's remainder goes to zero in the commit that writes its entry, and on
/// PostgreSQL processes skip the cards another one holds.
public struct PointExpiryRunner: Service {
    let database: any SQLDatabase
    let jobs: JobQueue
    let logger: Logger
    public var batchSize = 200
    public var recheckMilliseconds: Int64 = 30_000

    public init(database: any SQLDatabase, jobs: JobQueue, logger: Logger) {
        self.database = database
        self.jobs = jobs
        self.logger = logger
    }

    /// Expires everything due by `now`; returns the cards changed.
    @discardableResult
    public func expireDue(now: Int64 = WallClock.milliseconds()) async throws -> Int {
        var total = 0
        while !WorkerLoop.isStopping {
            let due = try await database.withConnection { try PointExpiries.dueCards(now: now, limit: batchSize, on: $0) }
            guard !due.isEmpty else { break }
            var changed = 0
            for (group, cards) in Dictionary(grouping: due, by: { GroupKey(tenant: $0.tenant, mode: $0.mode) }) {
                let expired = try await database.transaction { connection in
                    try PointExpiries.expire(tenant: group.tenant, mode: group.mode, serials: cards.map(\.serial), now: now, on: connection)
                }
                changed += expired.cards
                if expired.cards > 0 {
                    logger.info("points expired", metadata: ["tenant.id": .string(group.tenant), "card.count": .stringConvertible(expired.cards),
                                                             "points.expired": .stringConvertible(expired.points)])
                }
            }
            if changed > 0 { jobs.notifyCommitted() }
            total += changed
            // Cards another process holds stay due; they are its to finish.
            if changed == 0 { break }
        }
        return total
    }

    struct GroupKey: Hashable {
        let tenant: String
        let mode: CardMode
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                var wait = recheckMilliseconds
                do {
                    let now = WallClock.milliseconds()
                    try await expireDue(now: now)
                    if let next = try await database.withConnection({ try PointExpiries.nextDue(on: $0) }) {
                        wait = min(wait, max(0, next - WallClock.milliseconds()) + 1)
                    }
                } catch {
                    logger.error("point expiry failed", metadata: ["error.message": .string("\(error)")])
                    wait = 1_000
                }
                try? await Task.sleep(for: .milliseconds(wait))
            }
        }
    }
}
