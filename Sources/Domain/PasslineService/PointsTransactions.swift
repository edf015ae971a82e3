import LoyaltyRules
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
        let mode: CardMode
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
    func transact(_ request: Cards.PointsRequest, tenant: String, mode: CardMode, jobs: JobQueue,
                  render: @escaping @Sendable (Ledger.Outcome) -> [UInt8], now: Int64, program: Program?) async throws -> Result {
        try PointsRules.validate(points: request.points, reason: request.reason, amount: request.amount)
        // Keys are the tenant's per mode: a test key never replays (or blocks) a live answer.
        // The request hash covers the route, so another route with the same key is refused.
        let scopedKey = request.idempotencyKey.map { Idempotency.scoped($0, mode: mode) }
        if let key = scopedKey, let stored = try await Self.storedAnswer(tenant: tenant, key: key, requestHash: request.requestHash, database: database) {
            return stored
        }
        var change = Ledger.Change(serial: request.serial, points: request.points, reason: request.reason, amount: request.amount, actor: request.actor,
                                   idempotencyKey: scopedKey, requestHash: request.requestHash, type: request.type)
        change.look = program
        // Earned points expire as the program says; a partner's earn counts as a purchase.
        if request.points > 0, let program, let expiry = program.expiry {
            let expiresAt = expiry.expiresAt(from: now)
            change.lotExpiresAt = expiresAt
            change.lotReminder = ReminderSchedule.next(expiresAt: expiresAt, earnedAt: now, sent: [], program: program)
            if expiry.from == .lastPurchase && change.type == .earn { change.extendsLotsTo = expiresAt }
        }
        return try await batcher.submit(Pending(change: change, jobs: jobs, render: render, now: now), group: Group(tenant: tenant, mode: mode))
    }

    /// One batch in one database transaction: a change that finds its tenant idle is a batch
    /// of one, on the same statements. A refused change is answered with the store's reason; a
    /// change whose key another request holds gets that request's answer; every change of a
    /// batch that failed as a whole runs again alone, so it is answered exactly as it would
    /// have been on its own.
    /// - Parameter again: whether a change whose key is taken may run once more (it may not on
    ///   its second run: the key is then another live request's, answered as a conflict).
    private static func serve(_ group: Group, _ pending: [Pending], database: any SQLDatabase,
                              again: Bool = true) async -> [Swift.Result<Result, any Error>] {
        let now = pending.map(\.now).max() ?? WallClock.milliseconds()
        let results: [Ledger.BatchResult]
        do {
            results = try await database.transaction { connection in
                try Ledger.applyBatch(tenant: group.tenant, mode: group.mode, pending.map(\.change), now: now,
                                      answer: { index, outcome in pending[index].render(outcome) }, on: connection)
            }
        } catch {
            if pending.count == 1 { return [.failure(error)] }
            return await withTaskGroup(of: (Int, Swift.Result<Result, any Error>).self) { tasks in
                for index in pending.indices { tasks.addTask { (index, await serve(group, [pending[index]], database: database, again: again)[0]) } }
                var answers = [Swift.Result<Result, any Error>](repeating: .failure(error), count: pending.count)
                for await (index, answer) in tasks { answers[index] = answer }
                return answers
            }
        }
        let pushed = results.contains { result in
            if case .applied(let outcome, _) = result { return outcome.pushes > 0 }
            return false
        }
        if pushed { pending[0].jobs.notifyCommitted() }
        var answers: [Swift.Result<Result, any Error>] = []
        for (index, outcome) in results.enumerated() {
            switch outcome {
            case .applied(let outcome, let body):
                answers.append(.success(.applied(outcome, body: body)))
            case .refused(let error):
                answers.append(.failure(error))
            case .keyTaken:
                // The request holding the key has committed by now (the reservation waited for
                // it): answer as it did, or, if it rolled back, apply this one again.
                let change = pending[index].change
                answers.append(await result {
                    if let stored = try await storedAnswer(tenant: group.tenant, key: change.idempotencyKey!, requestHash: change.requestHash,
                                                           database: database) {
                        return stored
                    }
                    guard again else {
                        throw DomainError(.conflict, "Another request with the Idempotency-Key \(Idempotency.unscoped(change.idempotencyKey!)) is in progress; try again.")
                    }
                    return try await serve(group, [pending[index]], database: database, again: false)[0].get()
                })
            }
        }
        return answers
    }

    private static func storedAnswer(tenant: String, key: String, requestHash: [UInt8], database: any SQLDatabase) async throws -> Result? {
        guard case .replayed(let status, let body)? = try await WriteAnswers.stored(tenant: tenant, key: key, requestHash: requestHash, database: database) else {
            return nil
        }
        return .replayed(status: status, body: body)
    }

    private static func result(_ body: () async throws -> Result) async -> Swift.Result<Result, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }
}
