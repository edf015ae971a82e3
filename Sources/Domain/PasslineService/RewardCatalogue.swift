import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineSQL
import PasslineStore

/// Each tenant's rewards, and redemptions of them: a `redeem` entry through the ledger's path,
/// after the balance, the reward's window and its limit per member are checked under the
/// card's lock, so two redemptions at once cannot both pass a limit of one.
public final class RewardCatalogue: Sendable {
    let cards: Cards
    let jobs: JobQueue

    public init(cards: Cards, jobs: JobQueue) {
        self.cards = cards
        self.jobs = jobs
    }

    public typealias Entry = Rewards.Stored

    /// - Throws: `DomainError.invalid` naming every fault, `.conflict` for a name in use.
    public func create(tenant: String, mode: CardMode, document: JSONObject, now: Int64 = WallClock.milliseconds()) async throws -> Entry {
        let reward = try Reward.parse(document)
        let id = "rw_" + SecureRandom.token(length: 16)
        return try await cards.database.transaction { try Rewards.create(id: id, reward, tenant: tenant, mode: mode, now: now, on: $0) }
    }

    public func list(tenant: String, mode: CardMode) async throws -> [Entry] {
        try await cards.database.withConnection { try Rewards.list(tenant: tenant, mode: mode, on: $0) }
    }

    /// What a redemption did.
    public struct Redemption: Sendable {
        public let reward: Entry
        public let balance: Int64
        public let version: Int64
        public let entryID: Int64
    }

    public typealias Answer = WriteAnswer

    /// Spends the reward's cost from the card.
    /// - Throws: `.notFound` for an unknown card or reward (another tenant's or mode's alike),
    ///   `.conflict` when the balance, the reward's window or its limit does not allow it.
    public func redeem(tenant: String, mode: CardMode, serial: String, reward idOrName: String, idempotencyKey: String?, requestHash: [UInt8],
                       actor: String?, now wallNow: Int64 = WallClock.milliseconds(), render: @escaping @Sendable (Redemption) -> [UInt8]) async throws -> Answer {
        let now = try await cards.time(tenant: tenant, mode: mode, serial: serial, now: wallNow)
        let key = idempotencyKey.map { Idempotency.scoped($0, mode: mode) }
        if let key, let replay = try await WriteAnswers.stored(tenant: tenant, key: key, requestHash: requestHash, database: cards.database) { return replay }
        let look = try await cards.program(tenant: tenant, mode: mode, serial: serial, at: now, wallNow: wallNow)?.program
        let (body, pushed) = try await cards.database.transaction { connection -> ([UInt8], Bool) in
            guard let card = try Purchases.lockCard(serial: serial, tenant: tenant, mode: mode, on: connection) else {
                throw DomainError(.notFound, "No card \(serial).")
            }
            guard let entry = try Rewards.find(idOrName, tenant: tenant, mode: mode, on: connection) else {
                throw DomainError(.notFound, "No reward \(idOrName) in the catalogue.")
            }
            let reward = entry.reward
            let taken = try reward.limit.map { limit in
                try Rewards.redemptions(of: entry.id, serial: serial, tenant: tenant, since: now - limit.perDays * Timestamp.millisecondsPerDay, on: connection)
            } ?? 0
            if card.voided { throw DomainError(.conflict, "Card \(serial) is voided; it takes no more transactions.") }
            if let refusal = reward.refusal(balance: card.points, taken: taken, at: now) { throw refusal }
            var change = Ledger.Change(serial: serial, points: -reward.cost, reason: "reward \(reward.name)", amount: nil, actor: actor,
                                       idempotencyKey: key, requestHash: requestHash, type: .redeem, rewardID: entry.id)
            change.look = look
            let results = try Ledger.applyBatch(tenant: tenant, mode: mode, [change], now: now, answer: { _, outcome in
                render(Redemption(reward: entry, balance: outcome.points, version: outcome.version, entryID: outcome.entry.id))
            }, on: connection)
            return try WriteAnswers.single(results[0], key: key)
        }
        if pushed { jobs.notifyCommitted() }
        return .created(body)
    }
}
