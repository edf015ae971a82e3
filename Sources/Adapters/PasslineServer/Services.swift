import Logging
import PasslineCrypto
import PasslineService

/// The domain's services, built once, that the routes call. The server reaches the store only
/// through them: Package.swift gives this target no dependency on the store or SQL.
public struct Services: Sendable {
    public let tenants: Tenants
    public let templates: Templates
    public let cards: Cards
    /// Where changes enqueue their pushes.
    public let jobs: WorkQueue
    public let campaigns: CardCampaigns
    /// Apple's web service: devices holding passes, their registrations, polls and logs.
    public let devices: WalletDevices
    /// Readiness and the operator's figures.
    public let status: PlatformStatus
    /// Each tenant's loyalty program, versioned.
    public var programs: Programs { cards.programs }
    /// Purchases that earn by the program, their refunds, and a card's points by lot.
    public let purchases: PointsPurchases
    /// Rewards and their redemptions.
    public let rewards: RewardCatalogue
    /// Test keys' clocks.
    public let testClocks: TestClockService
    /// The tenants' webhook endpoints and their delivery logs.
    public let webhooks: Webhooks
    /// The kept answers of writes sent with an `Idempotency-Key`.
    public let idempotency: IdempotentRequests
    /// The partner API's limits per key and tenant; nil when the operator turned them off.
    public let rateLimits: RateLimits?
    /// Makes a card's "Save to Google Wallet" URL (its object synced first); nil when this
    /// process does not talk to Google.
    public let googleSaveURL: (@Sendable (Cards.Card) async throws -> String)?
    /// The businesses' staff: invitations, sign-in, sessions, the audit log.
    public let staff: StaffAccounts
    /// Members brought in from CSV, and the job that issues their cards.
    public let imports: MemberImports
    /// Google's reports of saves and deletions; nil when this process does not talk to Google.
    public let googleReports: GoogleWalletReports?
    /// Each business's colours, logo and default template.
    public let branding: TenantBranding

    /// - Parameters:
    ///   - maxDevicesPerCard: devices one card may be registered on.
    ///   - logger: the process's logger, for the campaign runner made here.
    ///   - webhooks: the endpoints' service (default: no endpoint on loopback).
    public init(tenants: Tenants, templates: Templates, cards: Cards, jobs: WorkQueue, campaigns: CardCampaigns? = nil,
                maxDevicesPerCard: Int = 10, logger: Logger, googleSaveURL: (@Sendable (Cards.Card) async throws -> String)? = nil,
                webhooks: Webhooks? = nil, rateLimits: RateLimits?? = nil, googleKeys: (any GoogleRootKeySource)? = nil,
                passwordHasher: PasswordHasher = PasswordHasher()) {
        self.tenants = tenants
        self.templates = templates
        self.cards = cards
        self.jobs = jobs
        self.campaigns = campaigns ?? CardCampaigns(cards: cards, jobs: jobs, logger: logger)
        self.devices = WalletDevices(cards: cards, maxDevicesPerCard: maxDevicesPerCard)
        self.status = PlatformStatus(database: cards.database)
        self.purchases = PointsPurchases(cards: cards, programs: cards.programs, jobs: jobs)
        self.rewards = RewardCatalogue(cards: cards, jobs: jobs)
        self.testClocks = TestClockService(database: cards.database, programs: cards.programs, jobs: jobs, logger: logger)
        self.googleSaveURL = googleSaveURL
        self.staff = StaffAccounts(database: cards.database, publicURL: cards.publicURL, hasher: passwordHasher)
        self.imports = MemberImports(cards: cards, jobs: jobs, logger: logger)
        self.googleReports = googleKeys.map { GoogleWalletReports(database: cards.database, keys: $0) }
        self.branding = TenantBranding(database: cards.database, templates: templates)
        self.idempotency = IdempotentRequests(database: cards.database)
        self.rateLimits = rateLimits ?? RateLimits(database: cards.database)
        self.webhooks = webhooks ?? Webhooks(database: cards.database, secrets: tenants.secrets, addresses: WebhookAddresses(allowLoopback: false))
    }
}
