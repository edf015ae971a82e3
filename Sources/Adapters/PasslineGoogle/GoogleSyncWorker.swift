import ApplePass
import Foundation
import GoogleWallet
import Logging
import ServiceLifecycle
import PasslineCrypto
import PasslineJSON
import PasslineService
import PasslineSQL
import PasslineStore
import Synchronization

/// Keeps each card's Google Wallet loyalty object in step with the card: runs the
/// `google.sync` jobs that card changes enqueue, and the same sync on demand before a save link
/// is followed. A sync inserts the class (once per change of the template's look) and inserts
/// or patches the object with the card's current state, so however many changes queued up, the
/// newest one is what Google ends with.
public final class GoogleSyncWorker: Sendable {
    public let api: GoogleWalletAPI
    public let cards: Cards
    public let jobs: JobQueue
    private let logger: Logger
    /// Jobs claimed at once; each is a few sequential calls.
    let batchSize: Int
    /// Classes sent by this process: each is sent once per process even when its stored hash
    /// matches, so a class removed on Google's side (or a stand-in restarted) comes back.
    private let sentClasses = Mutex<Set<String>>([])

    public init(api: GoogleWalletAPI, cards: Cards, jobs: JobQueue, batchSize: Int = 50, logger: Logger) {
        self.api = api
        self.cards = cards
        self.jobs = jobs
        self.batchSize = batchSize
        self.logger = logger
    }

    private var issuers: GoogleIssuers { cards.google }
    private var database: any SQLDatabase { cards.database }

    /// Claims and runs sync jobs until the task is cancelled.
    /// Its store work is background work: requests and single changes' pushes go first.
    public func run() async {
        await SQLWorkPriority.$current.withValue(.background) {
            await WorkerLoop.run("google sync", jobs: jobs, logger: logger) { try await self.runOnce() }
        }
    }

    /// One batch of jobs, run concurrently. Returns how many it handled.
    @discardableResult
    public func runOnce() async throws -> Int {
        let claimed = try await jobs.claim(limit: batchSize, kinds: [GoogleSync.jobKind], skipSuspendedTenants: true, leaseMilliseconds: 60_000)
        await withTaskGroup(of: Void.self) { group in
            for job in claimed { group.addTask { await self.handle(job) } }
        }
        return claimed.count
    }

    private func handle(_ job: ClaimedJob) async {
        let target: GoogleSyncJob
        do { target = try GoogleSyncJob(payload: job.payload) } catch {
            _ = try? await jobs.fail(job, error: "\(error)", retry: false)
            return
        }
        let (tenant, serial) = (target.tenant, target.serial)
        do {
            switch try await sync(tenant: tenant, serial: serial) {
            case .paused: try await jobs.release(job, afterMilliseconds: 60_000)
            default: try await jobs.complete(job)
            }
        } catch let error as GoogleAPIError {
            logger.warning("google sync failed", metadata: ["tenant.id": .string(tenant), "card.serial": .string(serial), "error.message": "\(error)"])
            _ = try? await jobs.fail(job, error: error.message, retry: error.kind != .rejected)
        } catch {
            logger.warning("google sync failed", metadata: ["tenant.id": .string(tenant), "card.serial": .string(serial), "error.message": "\(error)"])
            _ = try? await jobs.fail(job, error: "\(error)")
        }
    }

    public enum SyncResult: Sendable, Equatable {
        /// The object is as the card is; its id and its class's id.
        case synced(objectID: String, classID: String)
        /// Nothing to do: Google is not set up, the card is gone, or it is a test card.
        case skipped
        /// The tenant's sync is paused (a 403 or refused credentials); the reason says why.
        case paused(String)
    }

    /// Brings the card's object up to date now.
    /// - Throws: `GoogleAPIError` for what retrying may fix or Google refused.
    public func sync(tenant: String, serial: String, now: Int64 = WallClock.milliseconds()) async throws -> SyncResult {
        guard let settings = try await issuers.settings(tenant: tenant) else { return .skipped }
        if let reason = settings.pausedReason { return .paused(reason) }
        guard let card = try? await cards.get(tenant: tenant, mode: nil, serial: serial), card.mode == .live else { return .skipped }
        let resources = try await resources(card, settings: settings)
        do {
            try await ensureClass(resources.program, templateID: card.templateID, settings: settings, now: now)
            let previous = try await database.withConnection { try GoogleSync.objectState(tenant: tenant, serial: serial, on: $0) }
            var (notification, notifiedAt) = GoogleCardMapping.notification(previous: previous, points: card.points, tier: resources.tier,
                                                                            message: resources.message, notice: resources.notice, now: now)
            if notification != .none, let previous {
                // Another process syncing the same card at this moment must not notify as well.
                let wanted = notifiedAt
                let reserved = try await database.withConnection { connection in
                    try GoogleSync.reserveNotification(tenant: tenant, serial: serial, read: previous.notifiedAt, notifiedAt: wanted, on: connection)
                }
                if !reserved { (notification, notifiedAt) = (.none, previous.notifiedAt) }
            }
            // New words that notify go through addMessage (Google notifies of nothing PATCHed
            // in), after the object; a new reminder always does, silent once the day's three are
            // spent. Everything else is in the object's own lists, sent whole.
            var additions: [(module: TextModule, notify: Bool)] = []
            if previous != nil {
                if let notice = resources.card.notice, resources.notice != previous?.notice { additions.append((notice, notification.notice)) }
                if let message = resources.card.message, notification.message { additions.append((message, true)) }
            }
            let body = resources.card.json(notification: notification, withholding: Set(additions.map(\.module.id)))
            let path = "loyaltyObject/\(resources.card.objectID)"
            if previous == nil {
                do { try await call("POST", "loyaltyObject", body, settings) } catch let error as GoogleAPIError where error.kind == .conflict {
                    try await call("PATCH", path, body, settings)
                }
            } else {
                do { try await call("PATCH", path, body, settings) } catch let error as GoogleAPIError where error.kind == .notFound {
                    // Deleted on Google's side (or never landed): insert it again.
                    try await call("POST", "loyaltyObject", body, settings)
                }
            }
            for addition in additions {
                try await call("POST", "\(path)/addMessage", LoyaltyCard.addMessage(id: addition.module.id, header: addition.module.header,
                                                                                   body: addition.module.body, notify: addition.notify), settings)
            }
            let state = GoogleSync.ObjectState(objectID: resources.card.objectID, version: card.version, points: card.points, tier: resources.tier,
                                               message: resources.message, notice: resources.notice, notifiedAt: notifiedAt)
            try await database.transaction { connection in
                try GoogleSync.saveObjectState(state, tenant: tenant, serial: serial, now: now, on: connection)
                // A change that committed while this one was on the wire may have been sent
                // first by another worker; one more sync makes sure the newest state lands last.
                if let current = try connection.first("SELECT version FROM cards WHERE tenant_id = ? AND serial_number = ?", [.text(tenant), .text(serial)]),
                   try current.int("version") > card.version {
                    try GoogleSync.enqueue(tenant: tenant, serial: serial, mode: card.mode, now: now, on: connection)
                }
            }
            return .synced(objectID: resources.card.objectID, classID: resources.program.classID)
        } catch let error as GoogleAPIError where error.kind == .permission || error.kind == .credentials {
            try await issuers.pause(tenant: tenant, reason: error.message, settingsUpdatedAt: settings.updatedAt)
            logger.error("google sync paused", metadata: ["tenant.id": .string(tenant), "error.message": .string(error.message)])
            return .paused(error.message)
        }
    }

    /// The card's Google resources, built from its current Apple pass.
    func resources(_ card: Cards.Card, settings: GoogleIssuers.Settings) async throws -> GoogleCardMapping.Resources {
        let pass = try await cards.pass(card)
        let preview = try PassPreview(pkpass: pass)
        let languages = preview.fileNames.compactMap { $0.hasSuffix(".lproj/pass.strings") ? String($0.dropLast(".lproj/pass.strings".count)) : nil }
        let translations = try languages.sorted().filter { $0 != preview.language }.map { try PassPreview(pkpass: pass, languages: [$0]) }
        let (_, template, _) = try await cards.templates.load(tenant: card.tenant, idOrName: card.templateID)
        let logo = settings.logoURL ?? "\(cards.publicURL)/t/\(card.templateID)/logo.png"
        return GoogleCardMapping.resources(card: card, preview: preview, template: template, issuer: settings.issuerID, logoURL: logo,
                                           heroURL: "\(cards.publicURL)/t/\(card.templateID)/hero.png", callbackURL: "\(cards.publicURL)/google/v1/callbacks", translations: translations)
    }

    /// Inserts the class, or updates it when the template's look changed since it was sent.
    private func ensureClass(_ program: LoyaltyProgram, templateID: String, settings: GoogleIssuers.Settings, now: Int64) async throws {
        let body = program.json()
        let hash = GoogleCardMapping.hash(body)
        let tenant = settings.tenant
        let stored = try await database.withConnection { try GoogleSync.classHash(tenant: tenant, template: templateID, on: $0) }
        let key = "\(tenant)/\(program.classID)/\(hash)"
        guard stored != hash || !sentClasses.withLock({ $0.contains(key) }) else { return }
        do { try await call("POST", "loyaltyClass", body, settings) } catch let error as GoogleAPIError where error.kind == .conflict {
            try await call("PATCH", "loyaltyClass/\(program.classID)", body, settings)
        }
        try await database.withConnection { try GoogleSync.saveClass(tenant: tenant, template: templateID, classID: program.classID, hash: hash, now: now, on: $0) }
        sentClasses.withLock { _ = $0.insert(key) }
    }

    @discardableResult
    private func call(_ method: String, _ path: String, _ body: JSONObject, _ settings: GoogleIssuers.Settings) async throws -> GoogleWalletAPI.Answer {
        try await api.call(method, path, body: body, account: settings.account, issuer: settings.issuerID)
    }

    // MARK: Save links

    /// The save link for a card: the object made sure of through REST and linked by id (a
    /// short JWT). When Google cannot be reached, the object itself goes in the JWT if that stays
    /// within Google's limit.
    /// - Throws: `GoogleWalletError` / `GoogleAPIError` saying why no link can be made now.
    public func saveLink(for card: Cards.Card) async throws -> String {
        guard let settings = try await issuers.settings(tenant: card.tenant), card.mode == .live else {
            throw GoogleWalletError(.invalidConfiguration, "This card's business has not set up Google Wallet.")
        }
        let origins = settings.origins.isEmpty ? [cards.publicURL] : settings.origins
        // An object already in step with this version needs no call to Google: a page view or a
        // link shared around must not cost a round trip (and quota) each.
        let known = try await database.withConnection { try GoogleSync.objectState(tenant: card.tenant, serial: card.serialNumber, on: $0) }
        if let known, known.version >= card.version, settings.pausedReason == nil {
            return try SaveLink.url(.skinny(objectID: known.objectID, classID: WalletIDs.classID(issuer: settings.issuerID, template: card.templateID)),
                                    account: settings.account, origins: origins)
        }
        do {
            switch try await sync(tenant: card.tenant, serial: card.serialNumber) {
            case .synced(let objectID, let classID):
                return try SaveLink.url(.skinny(objectID: objectID, classID: classID), account: settings.account, origins: origins)
            case .paused(let reason): throw GoogleAPIError(kind: .permission, status: 403, message: reason)
            case .skipped: throw GoogleWalletError(.invalidConfiguration, "This card is not offered in Google Wallet.")
            }
        } catch let error as GoogleAPIError where error.kind == .unavailable {
            let resources = try await resources(card, settings: settings)
            return try SaveLink.url(.fat(object: resources.card.json(), program: resources.program.json()), account: settings.account, origins: origins)
        }
    }

    /// Gets a token and lists the issuer's classes with the tenant's settings: what
    /// `passline tenant google check` reports.
    public func check(tenant: String) async throws -> [String] {
        guard let settings = try await issuers.settings(tenant: tenant) else {
            throw GoogleWalletError(.invalidConfiguration, "Tenant \(tenant) has no Google Wallet settings; run `passline tenant google set` first.")
        }
        _ = try await api.accessToken(settings.account, refresh: true)
        let answer = try await api.call("GET", "loyaltyClass?issuerId=\(settings.issuerID)", account: settings.account, issuer: settings.issuerID)
        return (answer.body?["resources"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }
}

/// One of the process's services: at a graceful shutdown the syncs in hand finish first.
extension GoogleSyncWorker: Service {}
