import Logging
import LoyaltyRules
import PasslineJSON
import PasslineSQL
import PasslineStore
import ServiceLifecycle

/// Points that fall due, when they fall due, not in a nightly batch: expiries and the
/// reminders before them. It sleeps until the soonest lot's expiry or reminder (at most
/// `recheckMilliseconds`, so that lots made meanwhile, or by another process, are seen).
///
/// An expiry is a ledger change like any other (an `expire` entry, a new version, a push), and
/// a lot's remainder goes to zero in the commit that writes it; a reminder moves its lot to the
/// next milestone in the commit that changes the card. So each happens once, however many
/// processes run this: on PostgreSQL they skip the cards another one holds.
public struct PointsScheduler: Service {
    let database: any SQLDatabase
    let programs: Programs
    let jobs: JobQueue
    let logger: Logger
    public var batchSize = 200
    public var recheckMilliseconds: Int64 = 30_000

    public init(database: any SQLDatabase, programs: Programs, jobs: JobQueue, logger: Logger) {
        self.database = database
        self.programs = programs
        self.jobs = jobs
        self.logger = logger
    }

    /// Expires everything due by `now`; returns the cards changed.
    @discardableResult
    public func expireDue(now: Int64 = WallClock.milliseconds(), clock: TestClocks.Key? = nil) async throws -> Int {
        var total = 0
        while !WorkerLoop.isStopping {
            let (limit, clockKey) = (batchSize, clock)
            let due = try await database.withConnection { try PointExpiries.dueCards(now: now, limit: limit, clock: clockKey, on: $0) }
            guard !due.isEmpty else { break }
            var changed = 0
            for (group, cards) in Dictionary(grouping: due, by: { GroupKey(tenant: $0.tenant, mode: $0.mode) }) {
                var followed: [String: Program] = [:]
                for template in Set(cards.map(\.template)) {
                    followed[template] = try await program(tenant: group.tenant, mode: group.mode, template: template, at: now, clock: clock)
                }
                let programs = followed
                let templates = Dictionary(cards.map { ($0.serial, $0.template) }, uniquingKeysWith: { first, _ in first })
                let expired = try await database.transaction { connection in
                    try PointExpiries.expire(tenant: group.tenant, mode: group.mode, serials: cards.map(\.serial), now: now,
                                             look: { serial in templates[serial].flatMap { programs[$0] } }, on: connection)
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

    /// Sends every reminder due by `now`: the card shows what expires and when, its stage
    /// changes, and the change's push carries the words to the lock screen (the template's
    /// field with `changeMessage: "%@"`). Returns the cards changed.
    @discardableResult
    public func remindDue(now: Int64 = WallClock.milliseconds(), clock: TestClocks.Key? = nil) async throws -> Int {
        var total = 0
        while !WorkerLoop.isStopping {
            let (limit, clockKey) = (batchSize, clock)
            let due = try await database.withConnection { try PointReminders.dueCards(now: now, limit: limit, clock: clockKey, on: $0) }
            guard !due.isEmpty else { break }
            var changed = 0
            for card in due {
                let program = try await self.program(tenant: card.tenant, mode: card.mode, template: card.template, at: now, clock: clock)
                let pushed = try await database.transaction { connection -> Bool? in
                    guard let program, let locked = try Purchases.lockCard(serial: card.serial, tenant: card.tenant, mode: card.mode, on: connection),
                          !locked.voided else {
                        try PointReminders.cancel(tenant: card.tenant, serial: card.serial, on: connection)
                        return nil
                    }
                    let lots = try PointReminders.dueLots(tenant: card.tenant, serial: card.serial, now: now, on: connection)
                    guard !lots.isEmpty else { return nil }
                    for lot in lots {
                        let already = try PointReminders.sent(lot: lot.id, on: connection)
                        // The milestone due, and any nearer one whose time has come too (a process
                        // was down): one reminder, the nearest, not several in a row.
                        let passed = program.reminderDays.filter {
                            $0 < lot.daysBefore && lot.expiresAt - $0 * Timestamp.millisecondsPerDay <= now && !already.contains($0)
                        }
                        let recorded = [lot.daysBefore] + passed
                        let next = ReminderSchedule.next(expiresAt: lot.expiresAt, earnedAt: lot.earnedAt, sent: already.union(recorded), program: program)
                        try PointReminders.record(tenant: card.tenant, serial: card.serial, lot: lot, days: recorded, next: next, now: now, on: connection)
                    }
                    try Events.emit(tenant: card.tenant, mode: card.mode, now: now, on: connection) {
                        lots.map { lot in
                            .pointsExpiring(serial: card.serial, points: lot.remaining, expiresAt: lot.expiresAt, daysBefore: lot.daysBefore,
                                            words: ReminderSchedule.text(points: lot.remaining, expiresAt: lot.expiresAt, stage: String(lot.daysBefore), program: program))
                        }
                    }
                    // The card's words and stage move to the milestone; its new version's push carries them.
                    guard try !CardLooks.refresh(tenant: card.tenant, serials: [card.serial], program: program, now: now, on: connection).isEmpty else {
                        return nil
                    }
                    return try CardChanges.apply(.init(), tenant: card.tenant, mode: card.mode, serial: card.serial, now: now, on: connection).pushes > 0
                }
                if let pushed {
                    changed += 1
                    if pushed { jobs.notifyCommitted() }
                }
            }
            if changed > 0 {
                logger.info("expiry reminders sent", metadata: ["card.count": .stringConvertible(changed)])
            }
            total += changed
            if changed == 0 { break }
        }
        return total
    }

    /// The program cards of `template` follow at `time`: from the cache on the real clock; on a
    /// test clock, whose time may be anywhere, read for that time.
    func program(tenant: String, mode: CardMode, template: String, at time: Int64, clock: TestClocks.Key?) async throws -> Program? {
        try await programs.inForce(tenant: tenant, mode: mode, template: template, at: time, wallNow: clock == nil ? time : nil)?.program
    }

    /// Runs a test clock's advance to its target: it steps the clock's time to each moment
    /// something falls due on its cards (an expiry, a reminder), in order, and makes it happen
    /// there, then sets the target time and `ready`. Safe to run again on a clock whose advance
    /// was cut short, or beside another run of it: each step is a ledger change or a reminder
    /// that happens once.
    /// - Parameter maxSteps: how many moments to go through before returning (the real clock's
    ///   scheduler takes a few at a time, so that a long advance never holds up real expiries).
    /// - Returns: whether the advance is finished.
    @discardableResult
    public func advance(_ key: TestClocks.Key, maxSteps: Int = 100_000) async throws -> Bool {
        for _ in 0..<maxSteps {
            guard let clock = try await database.withConnection({ try TestClocks.get(key, on: $0) }), clock.status == .advancing else { return true }
            let next = try await database.withConnection { connection in
                [try PointExpiries.nextDue(clock: key, on: connection), try PointReminders.nextDue(clock: key, on: connection)].compactMap { $0 }.min()
            }
            guard let next, next <= clock.targetTime else {
                try await database.transaction { try TestClocks.move(key, to: clock.targetTime, finished: true, on: $0) }
                return true
            }
            let at = max(next, clock.frozenTime)
            try await database.transaction { try TestClocks.move(key, to: at, finished: false, on: $0) }
            let changed = try await expireDue(now: at, clock: key) + remindDue(now: at, clock: key)
            if changed == 0 && next <= clock.frozenTime {
                // Due but not done (another runner holds the card): let it finish.
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        if maxSteps >= 100_000 {
            logger.error("test clock advance did not finish", metadata: ["tenant.id": .string(key.tenant), "test_clock.id": .string(key.id)])
        }
        return false
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
                    try await remindDue(now: now)
                    // Advances a restart cut short go on, a few moments at a time between the real clock's work.
                    for clock in try await database.withConnection({ try TestClocks.advancing(on: $0) }) {
                        if try await !advance(clock, maxSteps: 20) { wait = 0 }
                    }
                    let next = try await database.withConnection { connection in
                        [try PointExpiries.nextDue(on: connection), try PointReminders.nextDue(on: connection)].compactMap { $0 }.min()
                    }
                    if let next { wait = min(wait, max(0, next - WallClock.milliseconds()) + 1) }
                } catch {
                    logger.error("points scheduler failed", metadata: ["error.message": .string("\(error)")])
                    wait = 1_000
                }
                try? await Task.sleep(for: .milliseconds(wait))
            }
        }
    }
}
