import PasslineCrypto
import PasslineSQL
import PasslineStore

/// Points transactions on their way to the store, a tenant's concurrent ones together.
///
/// Every change of a tenant takes the tenant's update tag, whose row stays locked until COMMIT.
/// One database transaction per change made a busy tenant's changes queue on that lock, each
/// with its own handful of round trips, a ceiling that more cores do not raise (BENCHMARKS.md).
/// So the changes that arrive while a tenant's batch is in the store go together in the next
/// one (`Ledger.applyBatch`): one tag, one COMMIT and a fixed number of statements for up to
/// 256 changes. A change that finds its tenant idle runs alone, at once.
final class PointsTransactions: Sendable {
    typealias Result = Cards.TransactionResult

    struct Group: Hashable, Sendable {
        let tenant: String
        let mode: String
    }

    struct Pending: Sendable {
        let change: Ledger.Change
        let jobs: JobQueue
        let render: @Sendable (Ledger.Outcome) -> [UInt8]
        let now: Int64
    }

    private let database: any SQLDatabase
    private let batcher: Batcher<Group, Pending, Result>

    init(database: any SQLDatabase, maxBatchSize: Int = 256) {
        self.database = database
        // Two changes to one card, or two requests with one idempotency key, never share a batch.
        batcher = Batcher(maxBatchSize: maxBatchSize, claims: { pending in
            ["card:" + pending.change.serial] + (pending.change.idempotencyKey.map { ["key:" + $0] } ?? [])
        }, serve: { group, pending in
            await Self.serve(group, pending, database: database)
        })
    }

    /// See `Cards.transact`.
    func transact(_ request: Cards.PointsRequest, tenant: String, mode: String, jobs: JobQueue,
                  render: @escaping @Sendable (Ledger.Outcome) -> [UInt8], now: Int64) async throws -> Result {
        try Ledger.validate(points: request.points, reason: request.reason, amount: request.amount)
        // Keys are the tenant's per mode: a test key never replays (or blocks) a live answer.
        // The request hash covers the route, so another route with the same key is refused.
        let scopedKey = request.idempotencyKey.map { Idempotency.scoped($0, mode: mode) }
        if let key = scopedKey, let stored = try await Self.storedAnswer(tenant: tenant, key: key, requestHash: request.requestHash, database: database) {
            return stored
        }
        let change = Ledger.Change(serial: request.serial, points: request.points, reason: request.reason, amount: request.amount, actor: request.actor,
                                   idempotencyKey: scopedKey, requestHash: request.requestHash)
        return try await batcher.submit(Pending(change: change, jobs: jobs, render: render, now: now), group: Group(tenant: tenant, mode: mode))
    }

    /// One batch in one database transaction. A change the batch did not apply (a missing or
    /// voided card, a redemption over the balance, a key another request holds), and every
    /// change of a batch that failed as a whole, runs again alone: that answers it exactly as
    /// it would have been answered on its own, error included.
    private static func serve(_ group: Group, _ pending: [Pending], database: any SQLDatabase) async -> [Swift.Result<Result, any Error>] {
        if pending.count == 1 {
            return [await result { try await transactOne(group, pending[0], database: database) }]
        }
        let now = pending.map(\.now).max()!
        let results: [Ledger.BatchResult]
        do {
            results = try await database.transaction { connection in
                try Ledger.applyBatch(tenant: group.tenant, mode: group.mode, pending.map(\.change), now: now,
                                      answer: { index, outcome in pending[index].render(outcome) }, on: connection)
            }
        } catch {
            results = Array(repeating: .notApplied, count: pending.count)
        }
        let pushed = results.contains { result in
            if case .applied(let outcome, _) = result { return outcome.pushes > 0 }
            return false
        }
        if pushed { pending[0].jobs.notifyCommitted() }
        return await withTaskGroup(of: (Int, Swift.Result<Result, any Error>).self) { tasks in
            var answers = [Swift.Result<Result, any Error>?](repeating: nil, count: pending.count)
            for (index, outcome) in results.enumerated() {
                switch outcome {
                case .applied(let outcome, let body):
                    answers[index] = .success(.applied(outcome, body: body))
                case .notApplied:
                    tasks.addTask { (index, await result { try await transactOne(group, pending[index], database: database) }) }
                case .keyTaken:
                    // The request holding the key has committed by now (the reservation waited for
                    // it): answer as it did, or, if it rolled back, apply this one alone.
                    let change = pending[index].change
                    tasks.addTask {
                        (index, await result {
                            if let stored = try await storedAnswer(tenant: group.tenant, key: change.idempotencyKey!, requestHash: change.requestHash,
                                                                   database: database) {
                                return stored
                            }
                            return try await transactOne(group, pending[index], database: database)
                        })
                    }
                }
            }
            for await (index, answer) in tasks { answers[index] = answer }
            return answers.map { $0! }
        }
    }

    /// One change in a database transaction of its own. Its key, if any, was looked up before:
    /// one stored since makes the insert fail, and the stored answer is given then.
    private static func transactOne(_ group: Group, _ pending: Pending, database: any SQLDatabase) async throws -> Result {
        let change = pending.change, tenant = group.tenant, render = pending.render, now = pending.now
        do {
            let (outcome, body) = try await database.transaction { connection -> (Ledger.Outcome, [UInt8]) in
                var body: [UInt8] = []
                let outcome = try Ledger.apply(tenant: tenant, mode: group.mode, serial: change.serial, points: change.points, reason: change.reason,
                                               amount: change.amount, idempotencyKey: change.idempotencyKey, actor: change.actor, now: now, committing: { outcome in
                                                   body = render(outcome)
                                                   if let key = change.idempotencyKey {
                                                       try Idempotency.store(tenant: tenant, key: key, requestHash: change.requestHash, status: 201,
                                                                             body: body, now: now, on: connection)
                                                   }
                                               }, on: connection)
                return (outcome, body)
            }
            if outcome.pushes > 0 { pending.jobs.notifyCommitted() }
            return .applied(outcome, body: body)
        } catch let error as SQLError where error.code == .uniqueViolation && change.idempotencyKey != nil {
            // A concurrent request with the same key committed first: answer as it did.
            if let stored = try await storedAnswer(tenant: tenant, key: change.idempotencyKey!, requestHash: change.requestHash, database: database) {
                return stored
            }
            throw error
        }
    }

    private static func storedAnswer(tenant: String, key: String, requestHash: [UInt8], database: any SQLDatabase) async throws -> Result? {
        guard let stored = try await database.withConnection({ try Idempotency.find(tenant: tenant, key: key, on: $0) }) else { return nil }
        guard ConstantTime.equal(stored.requestHash, requestHash) else {
            throw StoreError(.invalid, "The Idempotency-Key \(Idempotency.unscoped(key)) was used with another request; use a new key for a new request.")
        }
        return .replayed(status: stored.status, body: stored.body)
    }

    private static func result(_ body: () async throws -> Result) async -> Swift.Result<Result, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }
}
