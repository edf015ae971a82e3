import ApplePass
import Dispatch
import Foundation
import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineSQL
import PasslineStore
import Synchronization

/// A member's card: its data, and the signed pass built from it.
public final class Cards: Sendable {
    public let database: any SQLDatabase
    public let templates: Templates
    public let tenants: Tenants
    /// The base of every link and every pass's `webServiceURL`.
    public let publicURL: String
    /// Signing identities, shared with whatever replaces them in this process.
    public let identities: SigningIdentities
    /// Each tenant's Google Wallet settings.
    public let google: GoogleIssuers
    /// Built passes by tenant, serial, version and signing identity: a device that polls gets
    /// the same bytes until the card changes, without signing again. A replaced identity (here or
    /// by another process, seen within `SigningIdentities.recheckMilliseconds`) changes the key.
    private let passes = BoundedCache<PassKey, [UInt8]>(maxCount: 20_000, maxBytes: 64 << 20)
    struct PassKey: Hashable, Sendable {
        let tenant: String, serial: String, version: Int64, identity: Int64
    }
    /// The template each card was issued from, which never changes: which program a card's
    /// change follows, without a query on the transactions' hot path.
    private let templateOfCard = BoundedCache<CardKey, String>(maxCount: 200_000, maxBytes: 32 << 20)
    struct CardKey: Hashable, Sendable {
        let tenant: String, serial: String
    }
    private let transactions: PointsTransactions
    /// Each tenant's loyalty program: when earned points expire.
    public let programs: Programs

    public init(database: any SQLDatabase, templates: Templates, tenants: Tenants, publicURL: String) {
        self.database = database
        self.templates = templates
        self.tenants = tenants
        self.publicURL = publicURL
        self.identities = SigningIdentities(tenants: tenants)
        self.google = GoogleIssuers(database: database, secrets: tenants.secrets)
        self.programs = Programs(database: database)
        self.transactions = PointsTransactions(database: database)
    }

    /// The template a card of the tenant was issued from; nil for no such card.
    public func templateID(tenant: String, serial: String) async throws -> String? {
        let key = CardKey(tenant: tenant, serial: serial)
        if let known = templateOfCard.value(for: key) { return known }
        let template = try await database.withConnection { connection in
            try connection.first("SELECT template_id FROM cards WHERE tenant_id = ? AND serial_number = ?", [.text(tenant), .text(serial)])?.string("template_id")
        }
        if let template { templateOfCard.store(template, for: key, bytes: 64 + serial.utf8.count + template.utf8.count) }
        return template
    }

    /// The program a card follows at its time (its template's own, else the tenant's).
    public func program(tenant: String, mode: CardMode, serial: String, at time: Int64, wallNow: Int64) async throws -> Programs.Version? {
        let template = try await templateID(tenant: tenant, serial: serial)
        return try await programs.inForce(tenant: tenant, mode: mode, template: template, at: time, wallNow: wallNow)
    }

    /// Replaces the tenant's signing identity (see `Tenants.replaceIdentity`) and drops what was
    /// built with the old one, so every download from now on is signed with the new certificate.
    @discardableResult
    public func replaceIdentity(tenant: String, with identity: PassSigningIdentity) async throws -> Tenants.Info {
        let info = try await tenants.replaceIdentity(tenant: tenant, with: identity)
        identities.invalidate(tenant: tenant)
        passes.removeAll { $0.tenant == tenant }
        return info
    }

    public struct Card: Sendable, Equatable {
        public let tenant: String
        public let serialNumber: String
        public let templateID: String
        public let mode: CardMode
        public let memberID: String
        public let memberName: String
        public let points: Int64
        public let fields: JSONObject
        public let version: Int64
        public let voided: Bool
        public let publicToken: String
        public let authenticationToken: String
        public let createdAt: Int64
        public let updatedAt: Int64
        /// The newest version a device fetched through the web service, and when.
        /// The test clock the card lives on, if any.
        public var testClock: String? = nil
        public var fetchedVersion: Int64? = nil
        public var fetchedAt: Int64? = nil
        /// When the card expires, when and where it is relevant; empty: the template's.
        public var wallet: WalletOptions = WalletOptions()
        /// When the member signed up through Wallet's form, if they did.
        public var personalizedAt: Int64? = nil

        /// The card as its next version would be, for building a pass before anything is stored.
        /// Serial number and authentication token stay: Apple forbids changing them.
        func nextVersion(memberName: String? = nil, fields: JSONObject? = nil, voided: Bool? = nil, wallet: WalletOptions? = nil,
                         personalizedAt: Int64? = nil, updatedAt: Int64) -> Card {
            Card(tenant: tenant, serialNumber: serialNumber, templateID: templateID, mode: mode, memberID: memberID,
                 memberName: memberName ?? self.memberName, points: points, fields: fields ?? self.fields, version: version + 1,
                 voided: voided ?? self.voided, publicToken: publicToken, authenticationToken: authenticationToken,
                 createdAt: createdAt, updatedAt: updatedAt, testClock: testClock, wallet: wallet ?? self.wallet,
                 personalizedAt: personalizedAt ?? self.personalizedAt)
        }
    }

    /// The time a test-mode card lives at: its test clock's, or `now` for a card on the real
    /// clock (and every live card, without a query).
    public func time(tenant: String, mode: CardMode, serial: String, now: Int64) async throws -> Int64 {
        guard mode == .test else { return now }
        return try await database.withConnection { try TestClocks.of(serial: serial, tenant: tenant, on: $0) }?.frozenTime ?? now
    }

    /// What a partner sends to issue a card.
    public struct NewCard: Sendable {
        public var template: String
        public var memberID: String
        public var memberName: String
        public var points: Int64
        public var fields: JSONObject
        /// A test clock for the card to live on (test keys only).
        public var testClock: String?
        public var wallet: WalletOptions
        public init(template: String, memberID: String, memberName: String, points: Int64, fields: JSONObject = JSONObject(), testClock: String? = nil,
                    wallet: WalletOptions = WalletOptions()) {
            self.template = template; self.memberID = memberID; self.memberName = memberName; self.points = points; self.fields = fields
            self.testClock = testClock; self.wallet = wallet
        }
    }

    /// Issues a card at version 1. Its first pass is built before anything is stored, so data
    /// that does not fit the template is refused with the template's own words.
    /// - Throws: `DomainError.notFound` for an unknown template, `PassError.invalidCardData` when
    ///   the data does not fit it, `DomainError.invalid` for bad values.
    public func create(tenant: String, mode: CardMode, _ request: NewCard, now wallNow: Int64 = WallClock.milliseconds()) async throws -> Card {
        guard request.points >= 0 && request.points <= PointsRules.maxBalance else {
            throw DomainError(.invalid, "points must be 0 to 1,000,000,000,000, found \(request.points).")
        }
        var clockTime: Int64?
        if let clock = request.testClock {
            guard mode == .test else {
                throw DomainError(.invalid, "testClock is for test keys only: live cards live on the real clock.", faults: [.init("testClock", "is for test keys only")])
            }
            guard let found = try await database.withConnection({ try TestClocks.get(.init(tenant: tenant, id: clock), on: $0) }) else {
                throw DomainError(.notFound, "No test clock \(clock).")
            }
            clockTime = found.frozenTime
        }
        let now = clockTime ?? wallNow
        let (templateID, _, _) = try await templates.load(tenant: tenant, mode: mode, idOrName: request.template)
        let program = try await programs.inForce(tenant: tenant, mode: mode, template: templateID, at: now, wallNow: wallNow)?.program
        // A new member starts in the program's first tier; an opening balance is no earning.
        let fields = program.map { CardLook.fields(request.fields, lots: [], earnedInWindow: 0, now: now, program: $0) } ?? request.fields
        let card = Card(
            tenant: tenant, serialNumber: SecureRandom.token(length: 20), templateID: templateID, mode: mode,
            memberID: request.memberID, memberName: request.memberName, points: request.points, fields: fields, version: 1,
            voided: false, publicToken: SecureRandom.token(length: 32), authenticationToken: SecureRandom.token(length: 32),
            createdAt: now, updatedAt: now, testClock: request.testClock, wallet: request.wallet
        )
        let identity = try await identities.entry(tenant: tenant)
        let pass = try await buildPass(card, identity: identity.identity)
        let fieldsJSON = JSONWriter.string(.object(fields))
        // Opening points expire, and are reminded of, as earned ones are.
        let expireAt = request.points > 0 ? program?.expiry?.expiresAt(from: now) : nil
        let reminder = program.flatMap { program in expireAt.flatMap { ReminderSchedule.next(expiresAt: $0, earnedAt: now, sent: [], program: program) } }
        try await database.transaction { connection in
            try CardRows.insert(CardRows.NewCard(
                serialNumber: card.serialNumber, templateID: templateID, mode: mode, memberID: card.memberID, memberName: card.memberName,
                authenticationToken: card.authenticationToken, publicToken: card.publicToken, fieldsJSON: fieldsJSON, points: card.points,
                pointsExpireAt: expireAt, pointsReminder: reminder, testClock: request.testClock,
                walletJSON: request.wallet.isEmpty ? nil : JSONWriter.string(.object(request.wallet.json))
            ), tenant: tenant, now: now, on: connection)
            try Events.emit(tenant: tenant, mode: mode, now: now, on: connection) {
                [DomainEvent(.cardCreated, JSONObject([("card", .object(try Events.cardSnapshot(tenant: tenant, serial: card.serialNumber, on: connection)))]))]
            }
        }
        passes.store(pass, for: Self.cacheKey(card, identity: identity), bytes: pass.count)
        return card
    }

    /// A card of the tenant in the key's mode.
    /// - Throws: `DomainError.notFound` for unknown serials, other tenants' and the other mode's cards alike.
    public func get(tenant: String, mode: CardMode?, serial: String) async throws -> Card {
        let row = try await database.withConnection { connection in
            try connection.first("SELECT * FROM cards WHERE tenant_id = ? AND serial_number = ?", [.text(tenant), .text(serial)])
        }
        guard let row, let card = try? Self.card(row), mode == nil || card.mode == mode else { throw DomainError(.notFound, "No card \(serial).") }
        return card
    }

    /// The card behind a public token (the add-to-wallet links).
    public func get(publicToken: String) async throws -> Card {
        let row = try await database.withConnection { connection in
            try connection.first("SELECT * FROM cards WHERE public_token = ?", [.text(publicToken)])
        }
        guard let row else { throw DomainError(.notFound, "No card for that link.") }
        return try Self.card(row)
    }

    /// The card's current signed pass, built once per version.
    public func pass(_ card: Card) async throws -> [UInt8] {
        let identity = try await identities.entry(tenant: card.tenant)
        let key = Self.cacheKey(card, identity: identity)
        if let cached = passes.value(for: key) { return cached }
        let pass = try await buildPass(card, identity: identity.identity)
        passes.store(pass, for: key, bytes: pass.count)
        return pass
    }

    /// The signed pass a card of `template` would have with these values, for a preview of a
    /// card that does not exist: drawn through the same builder as every real card.
    /// - Throws: `DomainError.notFound` for a template `mode` does not see; `PassError` when the
    ///   values do not fit the template.
    public func samplePass(tenant: String, mode: CardMode, template idOrName: String, memberName: String, points: Int64, fields: JSONObject,
                           now: Int64 = WallClock.milliseconds()) async throws -> [UInt8] {
        let (templateID, template, _) = try await templates.load(tenant: tenant, mode: mode, idOrName: idOrName)
        // A value for every other key the template requires, so any template can be previewed.
        var fields = fields
        let given: Set<String> = ["memberId", "memberName", "points", "serialNumber"]
        for placeholder in template.placeholders where placeholder.isRequired && !given.contains(placeholder.key) && fields[placeholder.key] == nil {
            switch placeholder.type {
            case .integer, .number: fields[placeholder.key] = .int(0)
            case .boolean: fields[placeholder.key] = .bool(false)
            case .date: fields[placeholder.key] = .string(Timestamp.format(now))
            case .any, .string: fields[placeholder.key] = .string("Sample")
            }
        }
        let sample = Card(tenant: tenant, serialNumber: "preview", templateID: templateID, mode: mode, memberID: "PREVIEW", memberName: memberName,
                          points: points, fields: fields, version: 1, voided: false, publicToken: "preview", authenticationToken: "preview-only-never-registered",
                          createdAt: now, updatedAt: now, testClock: nil, fetchedVersion: nil, fetchedAt: nil)
        return try await buildPass(sample, identity: identities.identity(tenant: tenant))
    }

    /// What a points transaction answered: a fresh change, or the stored answer to a repeated request.
    public enum TransactionResult: Sendable {
        case applied(Ledger.Outcome, body: [UInt8])
        case replayed(status: Int, body: [UInt8])
    }

    /// Earns or redeems points. With an idempotency key, a repeated request (same key, same
    /// request hash) gets the stored answer and changes nothing; the same key with another request
    /// is refused. The answer is rendered by `render` inside the transaction and stored with it.
    ///
    /// Concurrent transactions of one tenant go to the store together (`PointsTransactions`).
    /// - Throws: `DomainError.notFound`, `.conflict` (redemption over the balance), `.invalid`.
    public func transact(_ request: PointsRequest, tenant: String, mode: CardMode, jobs: JobQueue,
                         render: @escaping @Sendable (Ledger.Outcome) -> [UInt8], now: Int64 = WallClock.milliseconds()) async throws -> TransactionResult {
        let cardNow = try await time(tenant: tenant, mode: mode, serial: request.serial, now: now)
        let program = try await self.program(tenant: tenant, mode: mode, serial: request.serial, at: cardNow, wallNow: now)?.program
        return try await transactions.transact(request, tenant: tenant, mode: mode, jobs: jobs, render: render, now: cardNow, program: program)
    }

    /// One earn (positive points) or redemption (negative) a partner asks of a card.
    public struct PointsRequest: Sendable {
        public var serial: String
        public var points: Int64
        public var reason: String
        /// What the customer paid, in minor units, when the points came from a purchase.
        public var amount: Int64?
        /// The partner's `Idempotency-Key`, and a digest of the request it came with: the same
        /// key with another request is refused.
        public var idempotencyKey: String?
        public var requestHash: [UInt8]
        /// Who asked (the API key's mode today; a staff member later).
        public var actor: String?
        /// `earn` or `redeem` (by the sign, when nil), or `adjust` for a correction.
        public var type: EntryType?

        public init(serial: String, points: Int64, reason: String, amount: Int64? = nil, idempotencyKey: String? = nil,
                    requestHash: [UInt8] = [], actor: String? = nil, type: EntryType? = nil) {
            self.serial = serial; self.points = points; self.reason = reason; self.amount = amount
            self.idempotencyKey = idempotencyKey; self.requestHash = requestHash; self.actor = actor; self.type = type
        }
    }

    /// Changes a card's member name and fields (an empty change reissues it, `voided` voids it).
    /// The new data is checked against the template by building a pass before anything is stored.
    /// - Returns: the card as it is now.
    public func change(tenant: String, mode: CardMode, serial: String, memberName: String?, fields: JSONObject?, voided: Bool?,
                       wallet: WalletOptions? = nil, personalizedAt: Int64? = nil, jobs: JobQueue, now: Int64 = WallClock.milliseconds()) async throws -> Card {
        let current = try await get(tenant: tenant, mode: mode, serial: serial)
        _ = try await buildPass(current.nextVersion(memberName: memberName, fields: fields, voided: voided, wallet: wallet, personalizedAt: personalizedAt, updatedAt: now),
                                identity: identities.identity(tenant: tenant))
        let change = CardChanges.Change(memberName: memberName, fieldsJSON: fields.map { JSONWriter.string(.object($0)) }, voided: voided,
                                        walletJSON: wallet.map { JSONWriter.string(.object($0.json)) }, personalizedAt: personalizedAt)
        let outcome = try await database.transaction { connection in
            try CardChanges.apply(change, tenant: tenant, mode: mode, serial: serial, now: now, on: connection)
        }
        if outcome.pushes > 0 { jobs.notifyCommitted() }
        return try await get(tenant: tenant, mode: mode, serial: serial)
    }

    /// Notes that a device fetched the card's current version: what tells "delivered" from "opened".
    public func recordFetch(_ card: Card, now: Int64 = WallClock.milliseconds()) async throws {
        guard (card.fetchedVersion ?? 0) < card.version else { return }
        _ = try await database.withConnection { connection in
            try connection.execute("""
                UPDATE cards SET fetched_version = ?, fetched_at = ?
                WHERE tenant_id = ? AND serial_number = ? AND (fetched_version IS NULL OR fetched_version < ?)
                """, [.int(card.version), .int(now), .text(card.tenant), .text(card.serialNumber), .int(card.version)])
        }
    }

    /// Sends a message to the card's holder: written into the `message` field (a back field whose
    /// `changeMessage` is `%@`), a new version, pushed; Wallet shows it on the lock screen.
    /// - Throws: `DomainError.invalid` when the card's template has no `message` placeholder.
    public func sendMessage(tenant: String, mode: CardMode, serial: String, message: String, jobs: JobQueue) async throws -> Card {
        let current = try await get(tenant: tenant, mode: mode, serial: serial)
        try await templates.requireMessageField(tenant: tenant, idOrName: current.templateID)
        let fields = CardFieldsChange(message: message).apply(to: current.fields)
        return try await change(tenant: tenant, mode: mode, serial: serial, memberName: nil, fields: fields, voided: nil, jobs: jobs)
    }

    /// Checks that a change fits the template by building a pass of `card` with it, before a campaign starts.
    public func check(_ change: CardFieldsChange, on card: Card) async throws {
        _ = try await buildPass(card.nextVersion(fields: change.apply(to: card.fields), voided: false, updatedAt: card.updatedAt), identity: identities.identity(tenant: card.tenant))
    }

    /// A card's ledger, newest first.
    public func ledger(tenant: String, mode: CardMode, serial: String, limit: Int, before: Int64?) async throws -> [Ledger.Entry] {
        _ = try await get(tenant: tenant, mode: mode, serial: serial)
        return try await database.withConnection { try Ledger.entries(tenant: tenant, serial: serial, limit: limit, before: before, on: $0) }
    }

    /// What a card's devices got since its current version: how many are registered, the
    /// outcomes of pushes to them counted, and the newest.
    public struct Delivery: Sendable {
        public let devices: Int
        public let outcomes: [String: Int]
        public let last: (outcome: PushOutcome, reason: String?, at: Int64)?
    }

    public func delivery(of card: Card) async throws -> Delivery {
        let found = try await database.withConnection {
            try Pushes.forCard(tenant: card.tenant, serial: card.serialNumber, since: card.updatedAt, on: $0)
        }
        return Delivery(devices: found.devices, outcomes: found.outcomes,
                        last: found.last.flatMap { last in PushOutcome(rawValue: last.outcome).map { ($0, last.reason, last.at) } })
    }

    public func applePassLink(_ card: Card) -> String { "\(publicURL)/c/\(card.publicToken)/pass.pkpass" }
    public func pageLink(_ card: Card) -> String { "\(publicURL)/c/\(card.publicToken)" }
    /// The card's "Save to Google Wallet" link, when its business has Google set up: a stable
    /// link to Passline that makes sure the object exists, then redirects to Google with a short JWT.
    public func googleSaveLink(_ card: Card) async throws -> String? {
        guard card.mode == .live, try await google.isConfigured(tenant: card.tenant) else { return nil }
        return "\(publicURL)/c/\(card.publicToken)/google"
    }

    private func buildPass(_ card: Card, identity: PassSigningIdentity) async throws -> [UInt8] {
        let (_, template, _) = try await templates.load(tenant: card.tenant, idOrName: card.templateID)
        var values: [String: JSONValue] = [:]
        for member in card.fields.members { values[member.key] = member.value }
        values["memberId"] = .string(card.memberID)
        values["memberName"] = .string(card.memberName)
        values["points"] = .int(card.points)
        var data = CardData(serialNumber: card.serialNumber, values: values, authenticationToken: card.authenticationToken,
                            webServiceURL: "\(publicURL)/passkit/\(card.tenant)", voided: card.voided ? true : nil,
                            expirationDate: card.wallet.expiresAt.map(Timestamp.format))
        data.passKeys = card.wallet.applePassKeys
        data.personalized = card.personalizedAt != nil
        // A test key's card is a real, installable pass: it says so on its front.
        if card.mode == .test { data.marker = "TEST" }
        let cardData = data
        let modified = Date(timeIntervalSince1970: Double(card.updatedAt) / 1000)
        // Signing and zipping block; they run on GCD's threads, not the cooperative pool or an event loop.
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try PassBuilder(identity: identity).build(template: template, card: cardData, modified: modified) })
            }
        }
    }

    static func cacheKey(_ card: Card, identity: SigningIdentities.Entry) -> PassKey {
        PassKey(tenant: card.tenant, serial: card.serialNumber, version: card.version, identity: identity.stamp)
    }

    static func card(_ row: SQLRow) throws -> Card {
        let fields = (try? JSONParser.parse(try row.string("fields")).objectValue) ?? JSONObject()
        return Card(
            tenant: try row.string("tenant_id"), serialNumber: try row.string("serial_number"), templateID: try row.string("template_id"),
            mode: try row.mode("mode"), memberID: try row.string("member_id"), memberName: try row.string("member_name"),
            points: try row.int("points"), fields: fields, version: try row.int("version"), voided: try row.bool("voided"),
            publicToken: try row.string("public_token"), authenticationToken: try row.string("authentication_token"),
            createdAt: try row.int("created_at"), updatedAt: try row.int("updated_at"),
            testClock: try row.optionalString("test_clock"),
            fetchedVersion: try row.optionalInt("fetched_version"), fetchedAt: try row.optionalInt("fetched_at"),
            wallet: WalletOptions.stored(try row.optionalString("wallet")),
            personalizedAt: try row.optionalInt("personalized_at")
        )
    }
}

