import Foundation
import LoyaltyRules
import PasslineSQL
import Synchronization

/// How soon a job should run relative to others: lower goes first.
public struct JobPriority: Sendable, Hashable, Comparable {
    public let rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    /// One card's change: a customer is waiting at the counter.
    public static let interactive = JobPriority(0)
    /// A campaign touching many cards.
    public static let bulk = JobPriority(10)
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// A job to enqueue.
public struct NewJob: Sendable {
    public var kind: String
    public var tenant: String?
    /// JSON the worker of `kind` understands.
    public var payload: String
    public var priority: JobPriority
    public var runAt: Int64?
    public var maxAttempts: Int
    /// Jobs with the same key that are still waiting merge into one: the newest payload wins,
    /// with the most urgent priority and the earliest time of either.
    public var coalesceKey: String?

    /// Attempts before a job goes dead: with the backoff doubling from 1 s, about an hour of
    /// retries (1 + 2 + … + 2,048 s).
    public static let defaultMaxAttempts = 12

    public init(kind: String, tenant: String?, payload: String, priority: JobPriority = .interactive,
                runAt: Int64? = nil, maxAttempts: Int = NewJob.defaultMaxAttempts, coalesceKey: String? = nil) {
        self.kind = kind; self.tenant = tenant; self.payload = payload; self.priority = priority
        self.runAt = runAt; self.maxAttempts = maxAttempts; self.coalesceKey = coalesceKey
    }
}

/// A job a worker holds under a lease.
public struct ClaimedJob: Sendable, Equatable {
    public let id: Int64
    public let kind: String
    public let tenant: String?
    public let payload: String
    /// This run's number, from 1.
    public let attempt: Int
    public let maxAttempts: Int
    public let coalesceKey: String?
}

/// A durable queue of jobs in the store. Jobs are enqueued in the same transaction as the change
/// that causes them, so a committed change always has its jobs and a rolled-back one has none.
public final class JobQueue: Sendable {
    public let database: any SQLDatabase
    /// Names this worker in `locked_by`, so a job's completion can check the lease is still its own.
    public let worker: String
    private let wakeup = Wakeup()

    public init(database: any SQLDatabase, worker: String = "worker-\(UUID().uuidString.prefix(8))") {
        self.database = database
        self.worker = worker
    }

    /// Enqueues jobs on the caller's connection, inside the caller's transaction.
    /// On PostgreSQL it also NOTIFYs `passline_jobs` once, which the server delivers at commit.
    /// Call `notifyCommitted()` after the transaction for same-process workers.
    public static func enqueue(_ jobs: [NewJob], now: Int64, on connection: any SQLConnection) throws {
        let dialect = connection.dialect
        guard !jobs.isEmpty else { return }
        // One statement may not upsert the same key twice (PostgreSQL refuses it), so jobs that
        // share a key merge here first, as the upsert would merge them.
        var merged: [NewJob] = []
        merged.reserveCapacity(jobs.count)
        var slot: [String: Int] = [:]
        for job in jobs {
            guard let key = job.coalesceKey else { merged.append(job); continue }
            if let index = slot[key] {
                let earlier = merged[index]
                var job = job
                job.priority = min(earlier.priority, job.priority)
                job.runAt = [earlier.runAt ?? now, job.runAt ?? now].min()
                merged[index] = job
            } else {
                slot[key] = merged.count
                merged.append(job)
            }
        }
        // Many rows a statement: a campaign step or a fan-out to thousands of devices enqueues
        // in a handful of round trips instead of one per device.
        var start = 0
        while start < merged.count {
            let chunk = merged[start..<min(start + 250, merged.count)]
            start = chunk.endIndex
            var binds: [SQLValue] = []
            binds.reserveCapacity(chunk.count * 8)
            for job in chunk {
                binds += [SQLValue(job.tenant), .text(job.kind), .text(job.payload), .int(Int64(job.priority.rawValue)), .int(job.runAt ?? now),
                          .int(Int64(job.maxAttempts)), SQLValue(job.coalesceKey), .int(now)]
            }
            try connection.execute("""
                INSERT INTO jobs (tenant_id, kind, payload, priority, state, run_at, attempts, max_attempts, coalesce_key, created_at)
                VALUES \(Array(repeating: "(?, ?, ?, ?, 'ready', ?, 0, ?, ?, ?)", count: chunk.count).joined(separator: ", "))
                \(upsert(dialect))
                """, binds)
        }
        try notifyOtherProcesses(on: connection)
    }

    /// Enqueues the jobs a query yields, on the caller's connection and inside the caller's
    /// transaction, with no row passing through Swift: for the thousands of jobs one change can
    /// make. `select`'s columns are, in order, tenant_id, kind, payload, priority, run_at,
    /// max_attempts and coalesce_key, and it yields each coalescing key at most once (one
    /// statement may not upsert a key twice).
    public static func enqueue(selecting select: String, _ binds: [SQLValue], now: Int64,
                               on connection: any SQLConnection) throws {
        let dialect = connection.dialect
        // `WHERE true`: SQLite would read ON CONFLICT as a join's ON without it.
        let inserted = try connection.execute("""
            INSERT INTO jobs (tenant_id, kind, payload, priority, run_at, max_attempts, coalesce_key, state, attempts, created_at)
            SELECT picked.*, 'ready', 0, CAST(? AS BIGINT) FROM (\(select)) AS picked WHERE true
            \(upsert(dialect))
            """, [.int(now)] + binds)
        if inserted > 0 { try notifyOtherProcesses(on: connection) }
    }

    /// A waiting job with the same key takes the newer payload, the more urgent priority and the
    /// earlier time; but one waiting out a backoff (it was tried: APNs said 429 for the token,
    /// or the send failed) keeps its time, so that a new change cannot undo the backoff.
    private static func upsert(_ dialect: SQLDialect) -> String {
        let least = dialect == .postgres ? "LEAST" : "MIN", greatest = dialect == .postgres ? "GREATEST" : "MAX"
        return """
            ON CONFLICT (coalesce_key) WHERE state = 'ready' DO UPDATE SET
                payload = excluded.payload,
                priority = \(least)(jobs.priority, excluded.priority),
                run_at = CASE WHEN jobs.attempts > 0 THEN \(greatest)(jobs.run_at, excluded.run_at) ELSE \(least)(jobs.run_at, excluded.run_at) END,
                max_attempts = excluded.max_attempts
            """
    }

    /// On PostgreSQL, NOTIFYs `passline_jobs`, which the server delivers at commit.
    private static func notifyOtherProcesses(on connection: any SQLConnection) throws {
        let dialect = connection.dialect
        if dialect == .postgres {
            try connection.execute("SELECT pg_notify('passline_jobs', '')", [])
        }
    }

    /// Enqueues one job on the caller's connection; see `enqueue(_:dialect:now:on:)`.
    public static func enqueue(_ job: NewJob, now: Int64, on connection: any SQLConnection) throws {
        try enqueue([job], now: now, on: connection)
    }

    /// Enqueues jobs in a transaction of their own.
    public func enqueue(_ jobs: [NewJob], now: Int64 = WallClock.milliseconds()) async throws {
        try await database.transaction { connection in
            try JobQueue.enqueue(jobs, now: now, on: connection)
        }
        notifyCommitted()
    }

    /// Wakes this process's workers: call after committing a transaction that enqueued jobs.
    public func notifyCommitted() { wakeup.signal() }

    /// Claims up to `limit` jobs that are due (or whose lease ran out), most urgent first, and
    /// leases them to this worker for `lease` milliseconds. Other claimers skip them.
    /// - Parameters:
    ///   - kinds: only jobs of these kinds (all when nil).
    ///   - skipPausedTenants: leave jobs of tenants whose pushes are paused where they are, so
    ///     waiting for a new certificate burns no attempts.
    ///   - skipSuspendedTenants: leave jobs of tenants the operator suspended where they are
    ///     (Google syncs, webhooks, campaigns: nothing of theirs goes out until resumed).
    ///   - atLeast: only jobs at least this urgent (a lane kept free for single changes).
    public func claim(limit: Int, kinds: [String]? = nil, skipPausedTenants: Bool = false, skipSuspendedTenants: Bool = false, atLeast: JobPriority? = nil,
                      leaseMilliseconds lease: Int64 = 60_000, now: Int64 = WallClock.milliseconds()) async throws -> [ClaimedJob] {
        let worker = self.worker, dialect = database.dialect
        var filter = ""
        var filterValues: [SQLValue] = []
        if let kinds {
            filter += " AND kind IN (\(Array(repeating: "?", count: kinds.count).joined(separator: ", ")))"
            filterValues = kinds.map(SQLValue.text)
        }
        if let atLeast {
            filter += " AND priority <= ?"
            filterValues.append(.int(Int64(atLeast.rawValue)))
        }
        if skipPausedTenants {
            // One look at the (few) paused tenants a claim, not one a candidate job.
            filter += " AND (tenant_id IS NULL OR tenant_id NOT IN (SELECT id FROM tenants WHERE push_paused_reason IS NOT NULL OR suspended_at IS NOT NULL))"
        } else if skipSuspendedTenants {
            filter += " AND (tenant_id IS NULL OR tenant_id NOT IN (SELECT id FROM tenants WHERE suspended_at IS NOT NULL))"
        }
        let condition = filter, conditionValues = filterValues
        return try await database.transaction { connection in
            if dialect == .postgres {
                // A queue that fills from empty (a fan-out, a campaign) is claimed on the
                // statistics of an empty table until autovacuum analyses it: the planner then
                // read every waiting job, sorted them all and kept the first few hundred, 180 ms
                // a claim at 50,000 waiting (auto_explain). The claim index already holds them in
                // order: walk it, whatever the statistics say.
                // (One statement, one round trip: set_config(…, true) is SET LOCAL.)
                _ = try connection.query("SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)", [])
            }
            // The jobs to take are picked once, in a materialized CTE, on PostgreSQL. Inside
            // `id IN (…)` the planner, misled by the statistics of a queue that was empty a
            // moment ago, ran the locking subquery again for every row of the table: claims of
            // 1 to 5 s whose locks stalled every enqueue of the same push tokens meanwhile.
            let pick = """
                SELECT id FROM jobs
                WHERE state IN ('ready', 'running')
                  AND ((state = 'ready' AND run_at <= ?) OR (state = 'running' AND lease_until < ?))\(condition)
                ORDER BY priority, run_at, id
                LIMIT ?
                """
            // A running job whose lease ran out after its last attempt goes dead here instead of
            // being claimed again: a job that crashes its worker must not crash-loop the service.
            let exhausted = "(state = 'running' AND attempts >= max_attempts)"
            let set = """
                SET state = CASE WHEN \(exhausted) THEN 'dead' ELSE 'running' END,
                    attempts = CASE WHEN \(exhausted) THEN attempts ELSE attempts + 1 END,
                    lease_until = CASE WHEN \(exhausted) THEN NULL ELSE CAST(? AS BIGINT) END,
                    locked_by = ?,
                    finished_at = CASE WHEN \(exhausted) THEN CAST(? AS BIGINT) ELSE finished_at END,
                    last_error = CASE WHEN \(exhausted) THEN 'its lease ran out on its last attempt: the worker that held it stopped (crashed?) each time' ELSE last_error END
                """
            let binds: [SQLValue] = [.int(now), .int(now)] + conditionValues + [.int(Int64(limit))] + [.int(now + lease), .text(worker), .int(now)]
            let claim = dialect == .postgres ? """
                WITH picked AS MATERIALIZED (\(pick) FOR UPDATE SKIP LOCKED)
                UPDATE jobs \(set)
                FROM picked WHERE jobs.id = picked.id
                RETURNING jobs.id AS id, kind, tenant_id, payload, attempts, max_attempts, coalesce_key, priority, run_at, state
                """ : """
                WITH picked AS (\(pick))
                UPDATE jobs \(set)
                WHERE id IN (SELECT id FROM picked)
                RETURNING id, kind, tenant_id, payload, attempts, max_attempts, coalesce_key, priority, run_at, state
                """
            return try connection.query(claim, binds)
            .filter { try $0.string("state") == "running" }
            .map { row in
                ClaimedJob(id: try row.int("id"), kind: try row.string("kind"), tenant: try row.optionalString("tenant_id"),
                           payload: try row.string("payload"), attempt: Int(try row.int("attempts")),
                           maxAttempts: Int(try row.int("max_attempts")), coalesceKey: try row.optionalString("coalesce_key"))
            }
            .sorted { ($0.id) < ($1.id) }
        }
    }

    /// Records success.
    /// - Throws: `DomainError.leaseLost` when the lease ran out and another worker took the job.
    public func complete(_ job: ClaimedJob, now: Int64 = WallClock.milliseconds()) async throws {
        let worker = self.worker
        let changed = try await database.withConnection { connection in
            try connection.execute("""
                UPDATE jobs SET state = 'done', finished_at = ?, lease_until = NULL, last_error = NULL
                WHERE id = ? AND locked_by = ? AND state = 'running'
                """, [.int(now), .int(job.id), .text(worker)])
        }
        if changed == 0 { throw DomainError(.leaseLost, "Job \(job.id) is no longer leased to \(worker).") }
    }

    /// Records success for many jobs in one statement.
    /// - Returns: how many were still leased to this worker (the rest were taken over).
    @discardableResult
    public func complete(_ jobs: [ClaimedJob], now: Int64 = WallClock.milliseconds()) async throws -> Int {
        guard !jobs.isEmpty else { return 0 }
        return try await database.withConnection { try self.complete(jobs, now: now, on: $0) }
    }

    /// Records success for many jobs on the caller's connection, inside the caller's
    /// transaction: a worker settles a batch and writes what came of it in one commit.
    @discardableResult
    public func complete(_ jobs: [ClaimedJob], now: Int64 = WallClock.milliseconds(), on connection: any SQLConnection) throws -> Int {
        guard !jobs.isEmpty else { return 0 }
        let marks = Array(repeating: "?", count: jobs.count).joined(separator: ", ")
        return try connection.execute("""
            UPDATE jobs SET state = 'done', finished_at = ?, lease_until = NULL, last_error = NULL
            WHERE locked_by = ? AND state = 'running' AND id IN (\(marks))
            """, [.int(now), .text(worker)] + jobs.map { .int($0.id) })
    }

    /// Records a failure: the job runs again after a backoff, or goes dead after its last attempt
    /// (or at once when `retry` is false), keeping the error.
    /// - Returns: the new state, `ready` or `dead`.
    @discardableResult
    public func fail(_ job: ClaimedJob, error: String, retry: Bool = true, retryAfterMilliseconds: Int64? = nil, now: Int64 = WallClock.milliseconds()) async throws -> String {
        let worker = self.worker
        let delay = retryAfterMilliseconds ?? Self.backoff(attempt: job.attempt)
        let dead = !retry || job.attempt >= job.maxAttempts
        let message = String(error.prefix(2000))
        let greatest = database.dialect == .postgres ? "GREATEST" : "MAX"
        let state = try await database.transaction { connection -> String in
            if dead {
                let changed = try connection.execute("""
                    UPDATE jobs SET state = 'dead', last_error = ?, finished_at = ?, lease_until = NULL
                    WHERE id = ? AND locked_by = ? AND state = 'running'
                    """, [.text(message), .int(now), .int(job.id), .text(worker)])
                if changed == 0 { throw DomainError(.leaseLost, "Job \(job.id) is no longer leased to \(worker).") }
                return "dead"
            }
            // A newer change may already wait under the same key; then it replaces this one, and
            // inherits its backoff and attempts: the token's pushes are what failed (a 429 is
            // for the token), and a new change must not undo that.
            if let key = job.coalesceKey,
               try connection.first("SELECT id FROM jobs WHERE coalesce_key = ? AND state = 'ready'", [.text(key)]) != nil {
                try connection.execute("UPDATE jobs SET state = 'done', finished_at = ?, last_error = ?, lease_until = NULL WHERE id = ? AND locked_by = ?",
                                       [.int(now), .text("superseded by a newer job: " + message), .int(job.id), .text(worker)])
                try connection.execute("""
                    UPDATE jobs SET run_at = \(greatest)(run_at, ?), attempts = \(greatest)(attempts, ?), last_error = ?
                    WHERE coalesce_key = ? AND state = 'ready'
                    """, [.int(now + delay), .int(Int64(job.attempt)), .text(message), .text(key)])
                return "done"
            }
            let changed = try connection.execute("""
                UPDATE jobs SET state = 'ready', run_at = ?, last_error = ?, lease_until = NULL, locked_by = NULL
                WHERE id = ? AND locked_by = ? AND state = 'running'
                """, [.int(now + delay), .text(message), .int(job.id), .text(worker)])
            if changed == 0 { throw DomainError(.leaseLost, "Job \(job.id) is no longer leased to \(worker).") }
            return "ready"
        }
        return state
    }

    /// Puts a claimed job back without counting the attempt (its tenant was paused meanwhile, say).
    public func release(_ job: ClaimedJob, afterMilliseconds delay: Int64, now: Int64 = WallClock.milliseconds()) async throws {
        let worker = self.worker
        try await database.transaction { connection in
            if let key = job.coalesceKey,
               try connection.first("SELECT id FROM jobs WHERE coalesce_key = ? AND state = 'ready'", [.text(key)]) != nil {
                _ = try connection.execute("UPDATE jobs SET state = 'done', finished_at = ?, last_error = 'superseded by a newer job', lease_until = NULL WHERE id = ? AND locked_by = ?",
                                           [.int(now), .int(job.id), .text(worker)])
                return
            }
            _ = try connection.execute("""
                UPDATE jobs SET state = 'ready', attempts = attempts - 1, run_at = ?, lease_until = NULL, locked_by = NULL
                WHERE id = ? AND locked_by = ? AND state = 'running'
                """, [.int(now + delay), .int(job.id), .text(worker)])
        }
    }

    /// Keeps a long job's lease: call between its steps, well within the lease.
    /// - Throws: `DomainError.leaseLost` when the lease already ran out and another worker took the job.
    public func extendLease(_ job: ClaimedJob, milliseconds lease: Int64, now: Int64 = WallClock.milliseconds()) async throws {
        let worker = self.worker
        let changed = try await database.withConnection { connection in
            try connection.execute("UPDATE jobs SET lease_until = ? WHERE id = ? AND locked_by = ? AND state = 'running'",
                                   [.int(now + lease), .int(job.id), .text(worker)])
        }
        if changed == 0 { throw DomainError(.leaseLost, "Job \(job.id) is no longer leased to \(worker).") }
    }

    /// Keeps a batch's leases, in one statement per 500 jobs.
    /// - Returns: how many were still this worker's.
    @discardableResult
    public func extendLeases(_ jobs: [ClaimedJob], milliseconds lease: Int64, now: Int64 = WallClock.milliseconds()) async throws -> Int {
        let worker = self.worker, ids = jobs.map(\.id)
        return try await database.withConnection { connection in
            try Self.extendLeases(ids, until: now + lease, worker: worker, on: connection)
        }
    }

    static func extendLeases(_ ids: [Int64], until: Int64, worker: String, on connection: any SQLConnection) throws -> Int {
        var kept = 0
        var start = 0
        while start < ids.count {
            let chunk = ids[start..<min(start + 500, ids.count)]
            start = chunk.endIndex
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            kept += try connection.execute(
                "UPDATE jobs SET lease_until = ? WHERE locked_by = ? AND state = 'running' AND id IN (\(marks))",
                [.int(until), .text(worker)] + chunk.map { .int($0) })
        }
        return kept
    }

    /// Deletes finished jobs: done ones that finished before `doneBefore`, dead ones before
    /// `deadBefore`, oldest first and at most `limit`, so that one call never holds the store
    /// (SQLite's one writer above all) for long.
    /// - Returns: how many went.
    @discardableResult
    public func purgeFinished(doneBefore: Int64, deadBefore: Int64, limit: Int = 5_000) async throws -> Int {
        try await database.withConnection { connection in
            // `state IN ('done', 'dead')` spelled as the partial index has it, so both planners use it.
            try connection.execute("""
                DELETE FROM jobs WHERE id IN (
                    SELECT id FROM jobs
                    WHERE state IN ('done', 'dead') AND finished_at < ?
                      AND ((state = 'done' AND finished_at < ?) OR (state = 'dead' AND finished_at < ?))
                    ORDER BY finished_at
                    LIMIT ?)
                """, [.int(max(doneBefore, deadBefore)), .int(doneBefore), .int(deadBefore), .int(Int64(limit))])
        }
    }

    /// Exponential backoff with jitter: about 1 s, 2 s, 4 s, … capped at an hour, each ±50%.
    public static func backoff(attempt: Int) -> Int64 {
        let base = min(3_600_000.0, 1000.0 * pow(2.0, Double(max(0, attempt - 1))))
        return Int64(base * Double.random(in: 0.5...1.5))
    }

    /// Wakes this queue's waiters whenever another process enqueues, where the database can tell
    /// (PostgreSQL's LISTEN/NOTIFY). Runs until the task is cancelled.
    public func listenForOtherProcesses() -> Task<Void, Never>? {
        guard let source = database as? any SQLNotificationSource else { return nil }
        let wakeup = self.wakeup
        return Task {
            for await _ in source.notifications(channel: "passline_jobs") { wakeup.signal() }
        }
    }

    /// Waits until a job may be ready: a signal from this process or (when listening) another, or the timeout.
    /// - Returns: true when a signal ended the wait, false when the timeout did.
    @discardableResult
    public func waitForWork(timeoutMilliseconds: Int64) async -> Bool {
        await wakeup.wait(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// A count of the signals so far. Read it before looking for work, then pass it to
    /// `waitForWork(since:…)`: a signal in between (another waiter may have been woken by it)
    /// ends the wait at once instead of being slept through.
    public var workSignals: UInt64 { wakeup.generation }

    @discardableResult
    public func waitForWork(since seen: UInt64, timeoutMilliseconds: Int64) async -> Bool {
        await wakeup.wait(since: seen, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Jobs by state (states with none left out), for progress and metrics: kept counts, not a scan.
    public func counts() async throws -> [String: Int] {
        return try await database.withConnection { connection in
            try JobCounts.read(on: connection).filter { $0.value != 0 }.mapValues { Int($0) }
        }
    }
}

/// A wake-up signal for waiting workers, with a timeout. A signal with nobody waiting is kept,
/// so a worker that checks for jobs and then waits never sleeps through one.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var generation: UInt64 = 0
        var waiters: [UUID: CheckedContinuation<Bool, Never>] = [:]
    }
    private let state = Mutex(State())

    var generation: UInt64 { state.withLock { $0.generation } }

    func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.generation &+= 1
            if state.waiters.isEmpty {
                state.pending = true
                return []
            }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// - Returns: true when a signal ended the wait, false when the timeout did.
    func wait(since seen: UInt64? = nil, timeoutMilliseconds: Int64) async -> Bool {
        let id = UUID()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if let seen, state.generation != seen { return true }
                if seen == nil, state.pending {
                    state.pending = false
                    return true
                }
                state.waiters[id] = continuation
                return false
            }
            if resumeNow {
                continuation.resume(returning: true)
                return
            }
            Task {
                try? await Task.sleep(for: .milliseconds(timeoutMilliseconds))
                self.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: false)
            }
        }
    }
}
