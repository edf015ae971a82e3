import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineSQL
import PasslineStore

/// Purchases earn points by the program in force when they happened; refunds take them back.
/// Each is one transaction through the ledger's path (a batch of one): entry, lot, balance,
/// version, tag, pushes, and the answer stored under the reference (and the Idempotency-Key).
public final class PointsPurchases: Sendable {
    let cards: Cards
    let programs: Programs
    let jobs: JobQueue

    public init(cards: Cards, programs: Programs, jobs: JobQueue) {
        self.cards = cards
        self.programs = programs
        self.jobs = jobs
    }

    public struct PurchaseRequest: Sendable {
        public var serial: String
        public var amount: Int64
        public var currency: String
        public var paymentMethod: String
        public var reference: String
        public var occurredAt: Int64?
        public var idempotencyKey: String?
        /// What was asked, to tell a replay from another request under the same reference or key.
        public var requestHash: [UInt8]
        public var actor: String?

        public init(serial: String, amount: Int64, currency: String, paymentMethod: String, reference: String, occurredAt: Int64? = nil,
                    idempotencyKey: String? = nil, requestHash: [UInt8] = [], actor: String? = nil) {
            self.serial = serial; self.amount = amount; self.currency = currency; self.paymentMethod = paymentMethod; self.reference = reference
            self.occurredAt = occurredAt; self.idempotencyKey = idempotencyKey; self.requestHash = requestHash; self.actor = actor
        }
    }

    public typealias Purchase = Purchases.Purchase

    /// What a purchase or a refund did.
    public struct Outcome: Sendable {
        public let purchase: Purchase
        /// Points earned (a purchase) or taken back (a refund).
        public let points: Int64
        /// Minor units refunded by this refund; 0 for a purchase.
        public let refunded: Int64
        public let balance: Int64
        public let version: Int64
    }

    public typealias Answer = WriteAnswer

    /// How far ahead of this clock a purchase's `occurredAt` may be (another machine's clock).
    public static let futureTolerance: Int64 = 5 * 60_000

    /// Records a purchase and credits what it earns.
    /// - Throws: `DomainError.invalid` naming each bad field (a currency not the program's
    ///   among them), `.notFound` for no such card, `.conflict` for a voided card, a tenant
    ///   without a program, or a reference used for another purchase.
    public func purchase(_ request: PurchaseRequest, tenant: String, mode: CardMode, now wallNow: Int64 = WallClock.milliseconds(),
                         render: @escaping @Sendable (Outcome) -> [UInt8]) async throws -> Answer {
        let now = try await cards.time(tenant: tenant, mode: mode, serial: request.serial, now: wallNow)
        var faults: [DomainError.Fault] = []
        if !(1...Program.maxAmount).contains(request.amount) { faults.append(.init("amount", "must be 1 to 1,000,000,000,000 minor units")) }
        if Currency(request.currency) == nil { faults.append(.init("currency", "must be an ISO 4217 code such as EUR")) }
        if !PaymentMethod.isValid(request.paymentMethod) { faults.append(.init("paymentMethod", "must be 1 to 32 of a-z, 0-9, '-' and '_' (for example cash)")) }
        if let fault = Self.referenceFault(request.reference) { faults.append(.init("reference", fault)) }
        if let occurred = request.occurredAt, occurred > now + Self.futureTolerance { faults.append(.init("occurredAt", "must not be in the future")) }
        try DomainError.check(faults, "The purchase is not valid")

        let key = request.idempotencyKey.map { Idempotency.scoped($0, mode: mode) }
        if let key, let replay = try await WriteAnswers.stored(tenant: tenant, key: key, requestHash: request.requestHash, database: cards.database) {
            return replay
        }
        let card = try await cards.get(tenant: tenant, mode: mode, serial: request.serial)
        if card.voided { throw DomainError(.conflict, "Card \(card.serialNumber) is voided; it takes no more purchases.") }
        let occurredAt = request.occurredAt ?? now
        guard let version = try await programs.inForce(tenant: tenant, mode: mode, template: card.templateID, at: occurredAt) else {
            throw DomainError(.conflict, "The tenant has no loyalty program in force at \(Timestamp.format(occurredAt)) in \(mode.rawValue) mode; PUT /api/v1/program first.")
        }
        let program = version.program
        guard request.currency == program.currency.code else {
            throw DomainError(.invalid, "The purchase is not valid: currency must be \(program.currency.code), the program's currency.",
                              faults: [.init("currency", "must be \(program.currency.code), the program's currency, found \(request.currency)")])
        }
        let earned = program.points(amount: request.amount, paymentMethod: request.paymentMethod, tier: card.fields["tier"]?.stringValue).points
        guard earned <= PointsRules.maxChange else {
            throw DomainError(.invalid, "The purchase would earn \(earned) points, more than one change may credit (1,000,000,000).",
                              faults: [.init("amount", "earns more than 1,000,000,000 points")])
        }
        let purchase = Purchase(reference: request.reference, serial: card.serialNumber, amount: request.amount, currency: request.currency,
                                paymentMethod: request.paymentMethod, occurredAt: occurredAt, pointsEarned: earned, programVersion: version.version,
                                createdAt: now)
        var change = Ledger.Change(serial: card.serialNumber, points: earned, reason: "purchase \(request.reference)", amount: request.amount,
                                   actor: request.actor, idempotencyKey: key, requestHash: request.requestHash, type: .earn,
                                   programVersion: version.version, purchaseReference: request.reference)
        if let expiry = program.expiry {
            let expiresAt = expiry.expiresAt(from: occurredAt)
            change.lotExpiresAt = expiresAt
            change.lotReminder = ReminderSchedule.next(expiresAt: expiresAt, earnedAt: now, sent: [], program: program)
            if expiry.from == .lastPurchase { change.extendsLotsTo = expiresAt }
        }
        // The card's look (expiry words, stage, tier) is the program's of now, not of the purchase's time.
        change.look = occurredAt == now ? program
            : try await programs.inForce(tenant: tenant, mode: mode, template: card.templateID, at: now, wallNow: wallNow)?.program
        let credit = change
        let answer = try await cards.database.transaction { connection -> (Answer, pushed: Bool) in
            if let recorded = try Purchases.claim(purchase, tenant: tenant, mode: mode, requestHash: request.requestHash, on: connection) {
                guard ConstantTime.equal(recorded.requestHash, request.requestHash) else {
                    throw DomainError(.conflict, "The reference \(request.reference) belongs to another purchase; a reference names one purchase.")
                }
                return (.replayed(status: 201, body: recorded.answer), false)
            }
            guard earned > 0 else {
                let (balance, cardVersion, _) = try Purchases.lockCard(serial: card.serialNumber, tenant: tenant, mode: mode, on: connection)!
                let body = render(Outcome(purchase: purchase, points: 0, refunded: 0, balance: balance, version: cardVersion))
                try Purchases.setAnswer(body, reference: purchase.reference, tenant: tenant, mode: mode, on: connection)
                if let key { try Idempotency.store(tenant: tenant, key: key, requestHash: request.requestHash, status: 201, body: body, now: now, on: connection) }
                return (.created(body), false)
            }
            let results = try Ledger.applyBatch(tenant: tenant, mode: mode, [credit], now: now, answer: { _, outcome in
                render(Outcome(purchase: purchase, points: earned, refunded: 0, balance: outcome.points, version: outcome.version))
            }, beforeCommit: { results in
                if case .applied(_, let body) = results[0] { try Purchases.setAnswer(body, reference: purchase.reference, tenant: tenant, mode: mode, on: connection) }
            }, on: connection)
            let applied = try WriteAnswers.single(results[0], key: key)
            return (.created(applied.body), applied.pushed)
        }
        if answer.pushed { jobs.notifyCommitted() }
        return answer.0
    }

    /// Refunds `amount` of a purchase (all that is left of it when nil) and takes back its share
    /// of the points, never more than is left of what it earned.
    /// - Throws: `.notFound` for no such purchase on the card, `.invalid` for an amount past
    ///   what is left to refund, `.conflict` for a purchase refunded in full already.
    public func refund(serial: String, reference: String, amount: Int64?, tenant: String, mode: CardMode, idempotencyKey: String?,
                       requestHash: [UInt8], actor: String?, now wallNow: Int64 = WallClock.milliseconds(),
                       render: @escaping @Sendable (Outcome) -> [UInt8]) async throws -> Answer {
        let now = try await cards.time(tenant: tenant, mode: mode, serial: serial, now: wallNow)
        if let amount, !(1...Program.maxAmount).contains(amount) {
            throw DomainError(.invalid, "The refund is not valid: amount must be 1 to 1,000,000,000,000 minor units.",
                              faults: [.init("amount", "must be 1 to 1,000,000,000,000 minor units")])
        }
        let key = idempotencyKey.map { Idempotency.scoped($0, mode: mode) }
        if let key, let replay = try await WriteAnswers.stored(tenant: tenant, key: key, requestHash: requestHash, database: cards.database) { return replay }
        let look = try await cards.program(tenant: tenant, mode: mode, serial: serial, at: now, wallNow: wallNow)?.program
        let answer = try await cards.database.transaction { connection -> (Answer, pushed: Bool) in
            guard let card = try Purchases.lockCard(serial: serial, tenant: tenant, mode: mode, on: connection),
                  let purchase = try Purchases.find(reference: reference, serial: serial, tenant: tenant, mode: mode, on: connection) else {
                throw DomainError(.notFound, "No purchase \(reference) on card \(serial).")
            }
            let left = purchase.amount - purchase.amountRefunded
            guard left > 0 else { throw DomainError(.conflict, "The purchase \(reference) is refunded in full already.") }
            let refunding = amount ?? left
            guard refunding <= left else {
                throw DomainError(.invalid, "The refund is not valid: amount \(refunding) is more than is left to refund of \(reference) (\(left)).",
                                  faults: [.init("amount", "must be at most \(left), what is left to refund of the purchase")])
            }
            let lot = try Purchases.lotRemaining(reference: reference, serial: serial, tenant: tenant, on: connection)
            let points = RefundRule.points(earned: purchase.pointsEarned, amount: purchase.amount, refundedBefore: purchase.amountRefunded,
                                           refunding: refunding, reversedBefore: purchase.pointsReversed, lotRemaining: lot?.remaining ?? 0)
            try Purchases.recordRefund(reference: reference, tenant: tenant, mode: mode, amount: refunding, points: points, on: connection)
            let after = Purchase(reference: purchase.reference, serial: purchase.serial, amount: purchase.amount, currency: purchase.currency,
                                 paymentMethod: purchase.paymentMethod, occurredAt: purchase.occurredAt, pointsEarned: purchase.pointsEarned,
                                 programVersion: purchase.programVersion, amountRefunded: purchase.amountRefunded + refunding,
                                 pointsReversed: purchase.pointsReversed + points, createdAt: purchase.createdAt)
            guard points > 0, let lot else {
                let body = render(Outcome(purchase: after, points: 0, refunded: refunding, balance: card.points, version: card.version))
                if let key { try Idempotency.store(tenant: tenant, key: key, requestHash: requestHash, status: 201, body: body, now: now, on: connection) }
                return (.created(body), false)
            }
            var change = Ledger.Change(serial: serial, points: -points, reason: "refund of \(reference)", amount: refunding, actor: actor,
                                       idempotencyKey: key, requestHash: requestHash, type: .refund, purchaseReference: reference,
                                       takes: [(lot: lot.lot, points: points)])
            change.look = look
            let results = try Ledger.applyBatch(tenant: tenant, mode: mode, [change], now: now, answer: { _, outcome in
                render(Outcome(purchase: after, points: points, refunded: refunding, balance: outcome.points, version: outcome.version))
            }, on: connection)
            let applied = try WriteAnswers.single(results[0], key: key)
            return (.created(applied.body), applied.pushed)
        }
        if answer.pushed { jobs.notifyCommitted() }
        return answer.0
    }

    /// A card's points as its lots hold them.
    public struct PointsView: Sendable {
        public let balance: Int64
        public let lots: [PointLots.Lot]
        /// Reminders sent for the card's lots, newest first.
        public let reminders: [PointReminders.Sent]
        /// The soonest expiry and how many points go then.
        public let nextExpiry: (points: Int64, at: Int64)?
    }

    public func points(tenant: String, mode: CardMode, serial: String) async throws -> PointsView {
        let card = try await cards.get(tenant: tenant, mode: mode, serial: serial)
        let (lots, reminders) = try await cards.database.withConnection { connection in
            (try PointLots.open(tenant: tenant, serial: card.serialNumber, on: connection),
             try PointReminders.history(tenant: tenant, serial: card.serialNumber, limit: 50, on: connection))
        }
        let soonest = lots.compactMap(\.expiresAt).min()
        let next = soonest.map { at in (points: lots.filter { $0.expiresAt == at }.map(\.remaining).reduce(0, +), at: at) }
        return PointsView(balance: card.points, lots: lots, reminders: reminders, nextExpiry: next)
    }

    /// The windows of the program summary: a week, a reminder's four weeks, a quarter.
    public static let summaryWindows: [Int64] = [7, 28, 90]

    /// What the tenant's cards in `mode` (of one template, when given) hold, and what of it
    /// expires in the next 7, 28 and 90 days, by the real clock.
    public func summary(tenant: String, mode: CardMode, template: String?, now: Int64 = WallClock.milliseconds()) async throws -> PointLots.Summary {
        try await cards.database.withConnection { connection in
            try PointLots.summary(tenant: tenant, mode: mode, template: template, now: now, windows: Self.summaryWindows, on: connection)
        }
    }

    static func referenceFault(_ reference: String) -> String? {
        reference.isEmpty || reference.count > 128 || reference.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) || reference.contains("/")
            ? "must be 1 to 128 characters, without control characters or '/' (it is a path segment of the refund route)" : nil
    }
}
