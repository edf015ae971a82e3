import Foundation
import Logging
import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineSQL
import PasslineStore
import ServiceLifecycle

/// Starting campaigns (a change to every card of a template) and running their `campaign.run`
/// jobs. A step changes `stepSize` cards in one transaction and enqueues their pushes at bulk
/// priority, so a single card's change (interactive priority) is sent ahead of a campaign's backlog
/// and waits for at most one step's transaction.
public final class CardCampaigns: Sendable {
    public let cards: Cards
    public let jobs: JobQueue
    public let stepSize: Int
    /// A step takes well under a second; the lease is renewed after each, so a crashed runner's
    /// campaign is picked up again within this long.
    public let leaseMilliseconds: Int64
    private let logger: Logger

    public init(cards: Cards, jobs: JobQueue, stepSize: Int = 50, leaseMilliseconds: Int64 = 15_000,
                logger: Logger) {
        self.cards = cards
        self.jobs = jobs
        self.stepSize = stepSize
        self.leaseMilliseconds = leaseMilliseconds
        self.logger = logger
    }

    public struct Status: Sendable {
        public let campaign: Campaigns.Campaign
        /// Push outcomes of the campaign's pushes, by outcome.
        public let pushes: [String: Int]
        /// Cards whose new version a device has fetched since.
        public let fetched: Int
    }

    /// Starts a campaign over every card of the template in the key's mode. The change is tried on
    /// one of the cards first, so data that does not fit the template is refused before any card changes.
    /// - Throws: `DomainError.notFound` for an unknown template, `.invalid` for a message to a template
    ///   without a message field, `PassError.invalidCardData` for fields that do not fit it.
    /// - Parameters:
    ///   - segment: which of the template's cards (default: all).
    ///   - startsAt: a time ahead to start at (milliseconds); the segment is taken then.
    public func start(tenant: String, mode: CardMode, template idOrName: String, change: CardFieldsChange, segment: Segment = Segment(),
                      startsAt: Int64? = nil, now: Int64 = WallClock.milliseconds()) async throws -> Campaigns.Campaign {
        try segment.validate()
        // A time already past means now (a form sent a minute late); the campaign says when it really began.
        let startsAt = startsAt.flatMap { $0 > now ? $0 : nil }
        if let startsAt, startsAt > now + 366 * Timestamp.millisecondsPerDay {
            throw DomainError(.invalid, "A campaign may be set at most a year ahead.", faults: [.init("startsAt", "must be within a year from now")])
        }
        let (templateID, _, _) = try await cards.templates.load(tenant: tenant, mode: mode, idOrName: idOrName)
        if change.message != nil { try await cards.templates.requireMessageField(tenant: tenant, idOrName: templateID) }
        let database = cards.database
        let sample = try await database.withConnection { connection in
            try connection.first("SELECT * FROM cards WHERE tenant_id = ? AND template_id = ? AND mode = ? AND voided = 0 LIMIT 1",
                                 [.text(tenant), .text(templateID), .text(mode.rawValue)])
        }
        if let sample { try await cards.check(change, on: try Cards.card(sample)) }
        let id = "cmp_" + SecureRandom.token(length: 16)
        let campaign = try await database.transaction { connection in
            try Campaigns.create(id: id, tenant: tenant, mode: mode, templateID: templateID, change: change, segment: segment, startsAt: startsAt,
                                 now: now, on: connection)
        }
        // Only a plan's speed depends on it: a campaign that could not refresh them still runs.
        do { try await database.withConnection { try Campaigns.refreshStatistics(on: $0) } } catch {
            logger.warning("campaign_cards statistics not refreshed", metadata: ["error.message": "\(error)"])
        }
        jobs.notifyCommitted()
        return campaign
    }

    /// The tenant's newest campaigns in `mode`, newest first.
    public func list(tenant: String, mode: CardMode, limit: Int = 20) async throws -> [Campaigns.Campaign] {
        try await cards.database.withConnection { try Campaigns.list(tenant: tenant, mode: mode, limit: min(max(limit, 1), 100), on: $0) }
    }

    /// - Throws: `DomainError.notFound` for unknown ids and other tenants' alike.
    public func status(tenant: String, id: String) async throws -> Status {
        try await cards.database.withConnection { connection in
            guard let campaign = try Campaigns.get(tenant: tenant, id: id, on: connection) else { throw DomainError(.notFound, "No campaign \(id).") }
            let (pushes, fetched) = try Campaigns.delivery(campaign: id, on: connection)
            return Status(campaign: campaign, pushes: pushes, fetched: fetched)
        }
    }

    /// Runs campaign jobs until the task is cancelled.
    /// Its store work is background work: single changes go first.
    public func run() async {
        await SQLWorkPriority.$current.withValue(.background) {
            await WorkerLoop.run("campaign runner", jobs: jobs, logger: logger) { try await self.runOnce() }
        }
    }

    /// Claims one due campaign job and works through its cards.
    /// - Returns: how many cards it took (0 when no campaign was due).
    @discardableResult
    public func runOnce() async throws -> Int {
        guard let job = try await jobs.claim(limit: 1, kinds: [CampaignJob.kind], skipSuspendedTenants: true, leaseMilliseconds: leaseMilliseconds).first else { return 0 }
        let id: String
        do { id = try CampaignJob(payload: job.payload).campaign } catch {
            try await jobs.fail(job, error: "\(error)", retry: false)
            return 0
        }
        let database = cards.database, stepSize = self.stepSize
        var changed = 0
        do {
            while !WorkerLoop.isStopping {
                let (taken, remaining) = try await database.transaction { connection in
                    try Campaigns.step(campaign: id, limit: stepSize, now: WallClock.milliseconds(), on: connection)
                }
                jobs.notifyCommitted()
                changed += taken
                guard remaining else {
                    try await jobs.complete(job)
                    return changed
                }
                try await jobs.extendLease(job, milliseconds: leaseMilliseconds)
            }
            // Stopping: the campaign goes back to the queue as it is, with this attempt not counted.
            try await jobs.release(job, afterMilliseconds: 0)
        } catch let error as DomainError where error.code == .leaseLost {
            logger.warning("campaign taken over by another runner", metadata: ["campaign.id": .string(id)])
        } catch {
            _ = try? await jobs.fail(job, error: "\(error)")
            throw error
        }
        return changed
    }
}

/// One of the process's services: at a graceful shutdown the campaign in hand stops after its
/// current step and goes back to the queue, for this process after a restart or another now.
extension CardCampaigns: Service {}
