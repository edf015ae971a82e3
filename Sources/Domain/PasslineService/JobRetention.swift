import Logging
import PasslineSQL
import PasslineStore
import ServiceLifecycle

/// Keeps the job table to what is still of use: jobs waiting or running, done jobs of the last
/// day (what just happened, for an operator looking), and dead jobs of the last month (the
/// reasons pushes and syncs failed for good). Everything older is deleted, in chunks, at a
/// priority that lets requests and single changes go first.
public struct JobRetention: Sendable {
    public var keepDoneMilliseconds: Int64 = 24 * 3_600_000
    public var keepDeadMilliseconds: Int64 = 30 * 24 * 3_600_000
    public var intervalMilliseconds: Int64 = 10 * 60_000
    public var chunk = 5_000

    public init() {}

    /// Delivery rows and the card lists of finished campaigns: their figures are kept as counts.
    public var keepHistoryMilliseconds: Int64 = 30 * 24 * 3_600_000

    /// Purges until nothing is older than the limits, then returns how many rows went: finished
    /// jobs, expired idempotency answers, old delivery rows, old campaigns' card lists, Google's report nonces, ended staff sessions and invitations.
    @discardableResult
    public func purge(_ jobs: JobQueue, now: Int64 = WallClock.milliseconds()) async throws -> Int {
        let chunk = self.chunk, history = now - keepHistoryMilliseconds
        return try await SQLWorkPriority.$current.withValue(.background) {
            var total = 0
            while true {
                let removed = try await jobs.purgeFinished(doneBefore: now - keepDoneMilliseconds, deadBefore: now - keepDeadMilliseconds, limit: chunk)
                total += removed
                if removed < chunk || Task.isCancelled { break }
            }
            try await jobs.database.transaction { _ = try JobCounts.fold(on: $0) }
            let steps: [@Sendable (any SQLConnection) throws -> Int] = [
                { try Idempotency.purgeExpired(now: now, limit: chunk, on: $0) },
                { try Pushes.purgeDeliveries(before: history, limit: chunk, on: $0) },
                { try Campaigns.purgeCards(finishedBefore: history, limit: chunk, now: now, on: $0) },
                { try GoogleReports.purge(before: history, limit: chunk, on: $0) },
                { try StaffRows.purge(before: now, limit: chunk, on: $0) },
            ]
            for step in steps {
                while !Task.isCancelled {
                    let removed = try await jobs.database.transaction { try step($0) }
                    total += removed
                    if removed < chunk { break }
                }
            }
            return total
        }
    }

    /// Purges now and every `intervalMilliseconds` until the task is cancelled.
    public func run(_ jobs: JobQueue, logger: Logger) async {
        while !Task.isCancelled {
            do {
                let removed = try await purge(jobs)
                if removed > 0 { logger.info("purged finished jobs", metadata: ["retention.rows": .stringConvertible(removed)]) }
            } catch {
                logger.error("retention purge failed", metadata: ["error.message": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(intervalMilliseconds))
        }
    }
}

extension JobRetention {
    /// The purge as one of the process's services: a graceful shutdown ends it at once (a purge
    /// cut short leaves nothing half done; the next one goes on from there).
    public func service(jobs: JobQueue, logger: Logger) -> some Service { RetentionService(retention: self, jobs: jobs, logger: logger) }
}

struct RetentionService: Service {
    let retention: JobRetention
    let jobs: JobQueue
    let logger: Logger

    func run() async throws {
        let (retention, jobs, logger) = (retention, jobs, logger)
        await cancelWhenGracefulShutdown { await retention.run(jobs, logger: logger) }
    }
}
