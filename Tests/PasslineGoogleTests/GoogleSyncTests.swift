import ApplePass
import Foundation
import GoogleWallet
import Hummingbird
import Logging
import LoyaltyRules
import PasslineAPNsSim
import PasslineCrypto
import PasslineGoogle
import PasslineGoogleSim
import PasslineHTTPClient
import PasslineJSON
import PasslineServer
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import PasslineZip
import Testing

/// A store with one tenant and the loyalty template, the Google stand-in over HTTPS, and a sync
/// worker that talks to it through the production client.
struct GoogleHarness {
    static let credentials = try! StandInCredentials.generate(name: "Passline Google stand-in")
    static let caFile: String = {
        let file = TestSupport.temporaryFolder().appendingPathComponent("google-stand-in-ca.pem")
        TestSupport.write(credentials.authorityPEM, to: file)
        return file.path
    }()
    static let issuer = "3388000000012345678"
    static let email = "passline-sync@demo-project.iam.gserviceaccount.com"
    static let key = try! PrivateKey.generateRSA()
    static let keyFile = try! ServiceAccountKey.file(email: email, key: key, keyID: "key-1")

    let database: any SQLDatabase
    let tenant: String
    let liveKey: String
    let cards: Cards
    let jobs: JobQueue
    let sim: GoogleWalletSimulator
    let client: HTTPClient
    let worker: GoogleSyncWorker

    static func start(_ kind: TestDatabase, permitted: Bool = true, configure: Bool = true) async throws -> GoogleHarness {
        let database = try await kind.make()
        try await Migrator.migrate(database)
        let tenants = Tenants(database: database, secrets: try SecretBox(key: SecretBox.generateKey()))
        let created = try await tenants.create(name: "Lumen", identity: try TestSupport.identity.signingIdentity())
        let tenant = created.id
        let templates = Templates(database: database)
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        _ = try await templates.create(tenant: tenant, name: "loyalty", zip: try writer.finish())
        let sim = try await GoogleWalletSimulator.start(certificateChainPEM: credentials.certificateChainPEM, keyPEM: credentials.keyPEM)
        try sim.addAccount(email: email, publicKeyPEM: try key.publicKeyPEM(), issuers: permitted ? [issuer] : [])
        let client = HTTPClient(configuration: .init(caFile: caFile))
        let api = GoogleWalletAPI(client: client, configuration: .init(tokenURL: sim.tokenURL, apiURL: sim.apiURL, requestsPerSecond: 1000))
        let cards = Cards(database: database, templates: templates, tenants: tenants, publicURL: "https://cards.example.com")
        let jobs = JobQueue(database: database)
        if configure {
            try await cards.google.set(tenant: tenant, issuerID: issuer, serviceAccountJSON: keyFile, origins: ["https://shop.example.com"])
        }
        return GoogleHarness(database: database, tenant: tenant, liveKey: created.liveKey, cards: cards, jobs: jobs, sim: sim, client: client,
                             worker: GoogleSyncWorker(api: api, cards: cards, jobs: jobs, logger: Logger(label: "test")))
    }

    func stop() async {
        client.shutdown()
        await sim.stop()
        await database.close()
    }

    func card(points: Int64 = 100, tier: String = "Silver", mode: CardMode = .live) async throws -> Cards.Card {
        try await cards.create(tenant: tenant, mode: mode, .init(template: "loyalty", memberID: "M-\(UUID().uuidString.prefix(6))", memberName: "Zoë \"Z\" 🌸",
                                                                  points: points, fields: JSONObject([("tier", .string(tier))])))
    }

    func transact(_ serial: String, _ points: Int64) async throws {
        _ = try await cards.transact(.init(serial: serial, points: points, reason: points > 0 ? "visit" : "reward"), tenant: tenant, mode: .live,
                                     jobs: jobs) { _ in [] }
    }

    /// Runs the worker until no sync job is due, moving retries' backoff to now between rounds.
    func drain(rounds: Int = 100) async throws {
        for _ in 0..<rounds {
            try await database.withConnection { _ = try $0.execute("UPDATE jobs SET run_at = 0 WHERE state = 'ready' AND kind = 'google.sync'", []) }
            if try await worker.runOnce() == 0 { return }
        }
    }

    func jobStates() async throws -> [String: Int] {
        try await database.withConnection { connection in
            var states: [String: Int] = [:]
            for row in try connection.query("SELECT state, COUNT(*) AS n FROM jobs WHERE kind = 'google.sync' GROUP BY state", []) {
                states[try row.string("state")] = Int(try row.int("n"))
            }
            return states
        }
    }

    func objectID(_ card: Cards.Card) -> String { WalletIDs.objectID(issuer: Self.issuer, serial: card.serialNumber) }
}

@Suite("Google Wallet sync, against the stand-in")
struct GoogleSyncTests {
    @Test("a new card inserts its class and object; a transaction PATCHes the new balance; a redemption notifies", arguments: TestDatabase.available)
    func createAndTransact(kind: TestDatabase) async throws {
        let google = try await GoogleHarness.start(kind)
        let card = try await google.card(points: 100)
        try await google.drain()

        let classID = WalletIDs.classID(issuer: GoogleHarness.issuer, template: card.templateID)
        let program = try #require(google.sim.loyaltyClass(classID))
        #expect(program["reviewStatus"] == .string("UNDER_REVIEW"))
        #expect(program["programLogo"]?["sourceUri"]?["uri"] == .string("https://cards.example.com/t/\(card.templateID)/logo.png"))
        #expect(program["heroImage"]?["sourceUri"]?["uri"] == .string("https://cards.example.com/t/\(card.templateID)/hero.png"), "the template's wide banner")
        // The program logo Google fetches is the template's square one, not the pass's wordmark.
        #expect(try await google.cards.templates.logo(templateID: card.templateID) == TestSupport.templateFiles("loyalty")["google/logo.png"])
        #expect(try await google.cards.templates.hero(templateID: card.templateID) == TestSupport.templateFiles("loyalty")["google/hero.png"])
        let object = try #require(google.sim.object(google.objectID(card)))
        #expect(object["loyaltyPoints"]?["balance"]?["int"] == .int(100))
        #expect(object["accountName"] == .string("Zoë \"Z\" 🌸") && object["accountId"] == .string(.init(card.memberID)))
        #expect(object["state"] == .string("ACTIVE"))
        // The QR code carries what the Apple pass's does.
        let preview = try PassPreview(pkpass: try await google.cards.pass(card))
        #expect(object["barcode"]?["value"] == .string(try #require(preview.barcode?.message)) && object["barcode"]?["type"] == .string("QR_CODE"))
        #expect(object["notifyPreference"] == nil, "the first sync never notifies")

        try await google.transact(card.serialNumber, 25)
        try await google.drain()
        let patch = try #require(google.sim.calls().last { $0.method == "PATCH" && $0.path.hasSuffix(google.objectID(card)) })
        let patched = try #require(JSONParser.parse(patch.body).objectValue)
        #expect(patched["loyaltyPoints"]?["balance"]?["int"] == .int(125))
        #expect(patched["notifyPreference"] == .string("notifyOnUpdate"), "earning notifies, as the iPhone's changeMessage does")
        #expect(google.sim.object(google.objectID(card))?["loyaltyPoints"]?["balance"]?["int"] == .int(125))

        try await google.transact(card.serialNumber, -40)
        try await google.drain()
        let redeemed = try #require(google.sim.object(google.objectID(card)))
        #expect(redeemed["loyaltyPoints"]?["balance"]?["int"] == .int(85))
        #expect(redeemed["notifyPreference"] == .string("notifyOnUpdate"), "a redemption notifies")
        #expect(google.sim.calls().filter { $0.method == "POST" && $0.path.hasSuffix("loyaltyClass") }.count == 1, "the class goes once")
        #expect(google.sim.calls().allSatisfy { $0.status < 400 })
        #expect(try await google.jobStates() == ["done": 3])

        // An object Google lost is inserted again on the next change.
        google.sim.deleteObject(google.objectID(card))
        try await google.transact(card.serialNumber, 1)
        try await google.drain()
        #expect(google.sim.object(google.objectID(card))?["loyaltyPoints"]?["balance"]?["int"] == .int(86))
        // A voided card is INACTIVE on Google too.
        _ = try await google.cards.change(tenant: google.tenant, mode: .live, serial: card.serialNumber, memberName: nil, fields: nil, voided: true, jobs: google.jobs)
        try await google.drain()
        #expect(google.sim.object(google.objectID(card))?["state"] == .string("INACTIVE"))
        await google.stop()
    }

    @Test("a card's expiry and places mean the same on Android: validTimeInterval, merchantLocations, EXPIRED once past", arguments: TestDatabase.available)
    func expiryAndPlaces(kind: TestDatabase) async throws {
        let google = try await GoogleHarness.start(kind)
        let wallet = try WalletOptions().applying(try #require(try JSONParser.parse(
            #"{"expirationDate":"2030-01-01T00:00:00Z","locations":[{"latitude":52.52,"longitude":13.405,"relevantText":"Around the corner"}],"maxDistance":200}"#).objectValue))
        let card = try await google.cards.create(tenant: google.tenant, mode: .live, .init(template: "loyalty", memberID: "G-1", memberName: "Gil", points: 10,
                                                                                           wallet: wallet))
        try await google.drain()
        let object = try #require(google.sim.object(google.objectID(card)))
        #expect(object["state"] == .string("ACTIVE") && object["validTimeInterval"]?["end"]?["date"] == .string("2030-01-01T00:00:00Z"))
        #expect(object["merchantLocations"] == .array([.object(JSONObject([("latitude", .double(52.52)), ("longitude", .double(13.405))]))]))
        // Past its expiry: EXPIRED, as Wallet greys out the Apple pass.
        let past = try card.wallet.applying(JSONObject([("expirationDate", .string("2020-01-01T00:00:00Z"))]))
        _ = try await google.cards.change(tenant: google.tenant, mode: .live, serial: card.serialNumber, memberName: nil, fields: nil, voided: nil,
                                          wallet: past, jobs: google.jobs)
        try await google.drain()
        #expect(google.sim.object(google.objectID(card))?["state"] == .string("EXPIRED"))
        #expect(google.sim.calls().allSatisfy { $0.status < 400 }, "the stand-in, which checks what Google checks, took every call")
        await google.stop()
    }

    @Test("a message notifies through addMessage; changing it adds the new one; clearing it, or a text module, clears it on Google too", arguments: TestDatabase.available)
    func messagesClear(kind: TestDatabase) async throws {
        let google = try await GoogleHarness.start(kind)
        let card = try await google.card(points: 10, tier: "Silver")
        try await google.drain()
        func added() -> [JSONObject] {
            google.sim.calls().filter { $0.path.hasSuffix("\(google.objectID(card))/addMessage") }.compactMap { try? JSONParser.parse($0.body).objectValue?["message"]?.objectValue }
        }
        func object() -> JSONObject? { google.sim.object(google.objectID(card)) }
        func bodies() -> [String] { object()?["messages"]?.arrayValue?.compactMap { $0["body"]?.stringValue } ?? [] }
        #expect(object()?["textModulesData"]?.arrayValue?.contains { $0["body"] == .string("Silver") } == true)
        #expect(bodies() == ["Welcome to Lumen Rewards."] && object()?["textModulesData"]?.arrayValue?.contains { $0["id"] == .string("news") } == false,
                "the template's message field is the card's message on Android, not a text module")

        _ = try await google.cards.sendMessage(tenant: google.tenant, mode: .live, serial: card.serialNumber, message: "Double points this week", jobs: google.jobs)
        try await google.drain()
        #expect(added().count == 1 && added().last?["messageType"] == .string("TEXT_AND_NOTIFY") && added().last?["body"] == .string("Double points this week"))
        #expect(bodies() == ["Double points this week"], "on the card once, not twice")
        // An unrelated change keeps it, without adding it again.
        try await google.transact(card.serialNumber, 5)
        try await google.drain()
        #expect(added().count == 1 && bodies() == ["Double points this week"])
        _ = try await google.cards.sendMessage(tenant: google.tenant, mode: .live, serial: card.serialNumber, message: "Closed on Monday", jobs: google.jobs)
        try await google.drain()
        #expect(added().count == 2 && bodies() == ["Closed on Monday"], "the new message replaces the old: \(bodies())")

        // Clearing the message and the tier: both leave Android too.
        var fields = try await google.cards.get(tenant: google.tenant, mode: .live, serial: card.serialNumber).fields
        fields["message"] = nil
        fields["tier"] = nil
        _ = try await google.cards.change(tenant: google.tenant, mode: .live, serial: card.serialNumber, memberName: nil, fields: fields, voided: nil, jobs: google.jobs)
        try await google.drain()
        let patch = try #require(google.sim.calls().last { $0.method == "PATCH" && $0.path.hasSuffix(google.objectID(card)) })
        let sent = try #require(JSONParser.parse(patch.body).objectValue)
        // The day's three are spent (two messages and an earn), so the template's words come back silently, in the list sent whole.
        #expect(sent["messages"]?.arrayValue?.compactMap { $0["body"]?.stringValue } == ["Welcome to Lumen Rewards."] && added().count == 2)
        #expect(bodies() == ["Welcome to Lumen Rewards."] && object()?["textModulesData"]?.arrayValue?.contains { $0["body"] == .string("Silver") } == false, "\(String(describing: object()))")
        #expect(google.sim.calls().allSatisfy { $0.status < 400 })
        await google.stop()
    }

    @Test("the template's languages reach Android: fields, the points label and the names carry translatedValues from its .lproj strings")
    func translations() async throws {
        let google = try await GoogleHarness.start(.sqlite)
        let card = try await google.card(points: 10, tier: "Member")
        try await google.drain()
        let object = try #require(google.sim.object(google.objectID(card)))
        func translated(_ localized: JSONValue?) -> [String: String] {
            Dictionary(uniqueKeysWithValues: (localized?["translatedValues"]?.arrayValue ?? []).compactMap { entry in
                entry["language"]?.stringValue.flatMap { language in entry["value"]?.stringValue.map { (language, $0) } }
            })
        }
        #expect(translated(object["loyaltyPoints"]?["localizedLabel"]) == ["de": "PUNKTE"] && object["loyaltyPoints"]?["localizedLabel"]?["defaultValue"]?["language"] == .string("en"))
        let tier = try #require(object["textModulesData"]?.arrayValue?.first { $0["id"] == .string("tier") })
        #expect(translated(tier["localizedHeader"]) == ["de": "STATUS"] && translated(tier["localizedBody"]) == ["de": "Mitglied"], "\(tier)")
        let classID = WalletIDs.classID(issuer: GoogleHarness.issuer, template: card.templateID)
        let program = try #require(google.sim.loyaltyClass(classID))
        let terms = try #require(program["textModulesData"]?.arrayValue?.first { $0["id"] == .string("terms") })
        #expect(translated(terms["localizedBody"])["de"]?.hasPrefix("Punkte haben keinen Barwert") == true)
        #expect(google.sim.calls().allSatisfy { $0.status < 400 }, "the stand-in checks every LocalizedString")
        await google.stop()
    }

    @Test("a campaign step queues one sync per card it changed; every object ends with the new tier", arguments: TestDatabase.available)
    func campaign(kind: TestDatabase) async throws {
        let google = try await GoogleHarness.start(kind)
        var cards: [Cards.Card] = []
        for _ in 0..<5 { cards.append(try await google.card(tier: "Silver")) }
        try await google.drain()
        let campaigns = CardCampaigns(cards: google.cards, jobs: google.jobs, stepSize: 2, logger: Logger(label: "test"))
        _ = try await campaigns.start(tenant: google.tenant, mode: .live, template: "loyalty", change: .init(fields: JSONObject([("tier", .string("Gold"))])))
        while try await campaigns.runOnce() > 0 {}
        try await google.drain()
        for card in cards {
            let modules = google.sim.object(google.objectID(card))?["textModulesData"]?.arrayValue ?? []
            #expect(modules.contains { $0["body"] == .string("Gold") }, "\(modules)")
            #expect(google.sim.object(google.objectID(card))?["notifyPreference"] == .string("notifyOnUpdate"), "a tier change notifies")
        }
        await google.stop()
    }

    @Test("balance changes notify, earns too, as on an iPhone, up to two a day: the third is kept for a reminder or message")
    func notificationBudget() async throws {
        let google = try await GoogleHarness.start(.sqlite)
        let card = try await google.card(points: 1_000)
        try await google.drain()
        var notified = 0
        for _ in 0..<5 {
            try await google.transact(card.serialNumber, -10)
            try await google.drain()
            let body = try #require(google.sim.calls().last { $0.method == "PATCH" }?.body)
            if try JSONParser.parse(body)["notifyPreference"] != nil { notified += 1 }
        }
        #expect(notified == 2)
        #expect(google.sim.object(google.objectID(card))?["loyaltyPoints"]?["balance"]?["int"] == .int(950))
        // The day's third still goes to a message.
        _ = try await google.cards.sendMessage(tenant: google.tenant, mode: .live, serial: card.serialNumber, message: "See you soon", jobs: google.jobs)
        try await google.drain()
        #expect(google.sim.calls().last { $0.path.hasSuffix("/addMessage") }.flatMap { try? JSONParser.parse($0.body)["message"]?["messageType"] } == .string("TEXT_AND_NOTIFY"))
        // A day later there is budget again.
        let now = WallClock.milliseconds()
        let state = try #require(try await google.database.withConnection { try GoogleSync.objectState(tenant: google.tenant, serial: card.serialNumber, on: $0) })
        #expect(GoogleCardMapping.notification(previous: state, points: 900, tier: "Silver", message: "", now: now).0 == .none)
        #expect(GoogleCardMapping.notification(previous: state, points: 900, tier: "Silver", message: "", now: now + 86_400_001).0.onUpdate)
        #expect(GoogleCardMapping.notification(previous: state, points: 990, tier: "Silver", message: "", now: now + 86_400_001).0.onUpdate, "earning notifies")
        #expect(GoogleCardMapping.notification(previous: state, points: 950, tier: "Gold", message: "", now: now + 86_400_001).0.onUpdate, "a tier change does")
        #expect(GoogleCardMapping.notification(previous: nil, points: 0, tier: "Gold", message: "", now: now).0 == .none)
        // A slot is taken only against what was read: a sync that read an older list loses the race.
        let stale = Array(state.notifiedAt.dropLast())
        #expect(try await google.database.withConnection {
            try GoogleSync.reserveNotification(tenant: google.tenant, serial: card.serialNumber, read: stale, notifiedAt: stale + [now], on: $0)
        } == false)
        #expect(try await google.database.withConnection {
            try GoogleSync.reserveNotification(tenant: google.tenant, serial: card.serialNumber, read: state.notifiedAt, notifiedAt: state.notifiedAt + [now], on: $0)
        } == true)
        await google.stop()
    }

    @Test("an expiry reminder reaches Android as a message of its own through addMessage, notifying within the day's three, silent after", arguments: TestDatabase.available)
    func reminderMessages(kind: TestDatabase) async throws {
        let google = try await GoogleHarness.start(kind)
        let start = WallClock.milliseconds(), day = Timestamp.millisecondsPerDay
        let program = try #require(try JSONParser.parse(#"{"currency":"EUR","earnRules":[],"expiry":{"afterDays":90},"reminders":{"daysBefore":[28,7]},"quietHours":{"start":0,"end":1},"timeZone":"UTC","effectiveAt":"2000-01-01T00:00:00Z"}"#).objectValue)
        _ = try await google.cards.programs.change(tenant: google.tenant, mode: .live, document: program, actor: nil)
        let card = try await google.card(points: 100)
        try await google.drain()
        let scheduler = PointsScheduler(database: google.database, programs: google.cards.programs, jobs: google.jobs, logger: Logger(label: "test"))
        func added() -> [JSONObject] {
            google.sim.calls().filter { $0.path.hasSuffix("\(google.objectID(card))/addMessage") }.compactMap { try? JSONParser.parse($0.body).objectValue?["message"]?.objectValue }
        }
        func spend(_ points: Int64, at time: Int64) async throws {
            _ = try await google.cards.transact(.init(serial: card.serialNumber, points: -points, reason: "gift"), tenant: google.tenant, mode: .live,
                                                jobs: google.jobs, render: { _ in [] }, now: time)
        }
        #expect(try await scheduler.remindDue(now: start + 62 * day + 60_000) == 1)
        try await google.drain()
        var messages = added()
        #expect(messages.count == 1 && messages.last?["messageType"] == .string("TEXT_AND_NOTIFY"))
        #expect(messages.last?["body"]?.stringValue?.hasPrefix("100 points expire on ") == true && messages.last?["header"] == .string("Lumen Clinic"))
        #expect(google.sim.object(google.objectID(card))?["messages"]?.arrayValue?.compactMap { $0["body"]?.stringValue }.filter { $0.contains("points expire") }.count == 1,
                "the notice once, beside the card's message")
        // The same words again (another change to the card) send nothing new.
        _ = try await google.cards.change(tenant: google.tenant, mode: .live, serial: card.serialNumber, memberName: "Zoë", fields: nil, voided: nil, jobs: google.jobs)
        try await google.drain()
        #expect(added().count == 1)

        #expect(try await scheduler.remindDue(now: start + 83 * day + 60_000) == 1)
        try await google.drain()
        messages = added()
        #expect(messages.count == 2 && messages.last?["body"]?.stringValue?.hasPrefix("Only 7 days left: 100 points") == true)
        #expect(messages.last?["messageType"] == .string("TEXT_AND_NOTIFY"))
        // A redemption from the expiring points: new words, the day's third notification, so the balance change itself stays silent.
        try await spend(10, at: start + 84 * day)
        try await google.drain()
        #expect(added().last?["body"]?.stringValue?.hasPrefix("Only 7 days left: 90 points") == true && added().last?["messageType"] == .string("TEXT_AND_NOTIFY"))
        let patch = try #require(google.sim.calls().last { $0.method == "PATCH" })
        #expect(try JSONParser.parse(patch.body).objectValue?["notifyPreference"] == nil)
        // The fourth in a day goes as TEXT: on the card, no notification.
        try await spend(10, at: start + 84 * day)
        try await google.drain()
        #expect(added().count == 4 && added().last?["messageType"] == .string("TEXT") && added().last?["body"]?.stringValue?.contains("80 points") == true)
        #expect(google.sim.notifications(google.objectID(card)) == 3)
        #expect(google.sim.calls().filter { $0.path.contains("loyaltyClass") }.count == 1, "a card's stage colours never change the class all cards share")
        #expect(google.sim.calls().allSatisfy { $0.status < 400 }, "Google's limit is never hit: \(google.sim.calls().filter { $0.status >= 400 }.map { "\($0.method) \($0.path) \($0.status)" })")
        await google.stop()
    }

    @Test("a flaky Google (429s and 503s) still ends with the newest balance, and an expired token is refreshed once")
    func flakyGoogle() async throws {
        let google = try await GoogleHarness.start(.sqlite)
        let card = try await google.card(points: 10)
        try await google.drain()
        google.sim.update { $0.failureRate = 0.5 }
        // Each change is synced before the next (a change that finds its card's sync waiting out
        // a backoff joins it, so without this fewer calls would be made, and the stand-in, which
        // fails every other call, 429 and 503 in turn, might not have shown both).
        for points in [5, 7, 11, 13, -3] as [Int64] {
            try await google.transact(card.serialNumber, points)
            try await google.drain()
        }
        try await google.drain(rounds: 200)
        google.sim.update { $0.failureRate = 0 }
        #expect(google.sim.calls().contains { $0.status == 429 } && google.sim.calls().contains { $0.status == 503 }, "the stand-in failed calls both ways")
        #expect(google.sim.object(google.objectID(card))?["loyaltyPoints"]?["balance"]?["int"] == .int(43))
        let states = try await google.jobStates()
        #expect(states["ready"] == nil && states["dead"] == nil, "\(states)")

        let tokens = google.sim.tokensIssued()
        google.sim.revokeTokens()
        try await google.transact(card.serialNumber, 1)
        try await google.drain()
        #expect(google.sim.object(google.objectID(card))?["loyaltyPoints"]?["balance"]?["int"] == .int(44))
        #expect(google.sim.tokensIssued() == tokens + 1)
        #expect(google.sim.calls().contains { $0.status == 401 })
        await google.stop()
    }

    @Test("a 403 pauses the tenant's Google sync with the explanation; the Apple side goes on; setting it again resumes", arguments: TestDatabase.available)
    func permissionDenied(kind: TestDatabase) async throws {
        let google = try await GoogleHarness.start(kind, permitted: false)
        let card = try await google.card()
        try await google.drain()
        let info = try #require(try await google.cards.google.info(tenant: google.tenant))
        let reason = try #require(info.pausedReason)
        #expect(reason.contains("403") && reason.contains("not a user of issuer \(GoogleHarness.issuer)") && reason.contains(GoogleHarness.email))
        let waiting = try await google.jobStates()
        #expect(waiting == ["ready": 1], "the job waits, no attempt burned: \(waiting)")
        // The Apple pass is unaffected.
        let pass = try await google.cards.pass(card)
        #expect(PassVerifier.verify(pass, trustAnchors: [TestSupport.identity.root]).isValid)
        try await google.transact(card.serialNumber, 5)

        google.sim.setPermission(email: GoogleHarness.email, issuer: GoogleHarness.issuer, allowed: true)
        try await google.cards.google.set(tenant: google.tenant, issuerID: GoogleHarness.issuer, serviceAccountJSON: GoogleHarness.keyFile)
        try await google.drain()
        #expect(try await google.cards.google.info(tenant: google.tenant)?.pausedReason == nil)
        #expect(google.sim.object(google.objectID(card))?["loyaltyPoints"]?["balance"]?["int"] == .int(105))
        await google.stop()
    }

    @Test("bad configuration: no issuer skips Google, a key of another account is refused with a reason, a broken file never stores")
    func badConfiguration() async throws {
        let google = try await GoogleHarness.start(.sqlite, configure: false)
        let card = try await google.card()
        #expect(try await google.jobStates().isEmpty, "no Google settings, no sync jobs")
        #expect(try await google.cards.googleSaveLink(card) == nil)
        #expect(try await google.worker.sync(tenant: google.tenant, serial: card.serialNumber) == .skipped)

        await #expect { try await google.cards.google.set(tenant: google.tenant, issuerID: "issuer-name", serviceAccountJSON: GoogleHarness.keyFile) } throws: {
            "\($0)".contains("not a Google Wallet issuer id")
        }
        await #expect { try await google.cards.google.set(tenant: google.tenant, issuerID: GoogleHarness.issuer, serviceAccountJSON: Array("{}".utf8)) } throws: {
            "\($0)".contains("client_email")
        }
        await #expect { try await google.cards.google.set(tenant: "tnt_nobody", issuerID: GoogleHarness.issuer, serviceAccountJSON: GoogleHarness.keyFile) } throws: {
            "\($0)".contains("does not exist")
        }
        #expect(try await google.cards.google.info(tenant: google.tenant) == nil, "nothing stored")

        // A well-formed key file whose key is not the account's: Google's token endpoint refuses it.
        let stranger = try ServiceAccountKey.file(email: GoogleHarness.email, key: try PrivateKey.generateRSA(), keyID: "key-2")
        try await google.cards.google.set(tenant: google.tenant, issuerID: GoogleHarness.issuer, serviceAccountJSON: stranger)
        try await google.drain()
        let reason = try #require(try await google.cards.google.info(tenant: google.tenant)?.pausedReason)
        #expect(reason.contains("refused the service account") && reason.contains("Invalid JWT Signature"), "\(reason)")
        await #expect { try await google.worker.check(tenant: google.tenant) } throws: { "\($0)".contains("Invalid JWT Signature") }
        // Apple side unaffected: transactions and passes work.
        try await google.transact(card.serialNumber, 5)
        #expect(PassVerifier.verify(try await google.cards.pass(try await google.cards.get(tenant: google.tenant, mode: nil, serial: card.serialNumber)),
                                    trustAnchors: [TestSupport.identity.root]).isValid)
        await google.stop()
    }

    @Test("the token cache tells keys apart by their key material, not by the e-mail and key id a key file names")
    func tokenCacheKey() async throws {
        let google = try await GoogleHarness.start(.sqlite)
        let account = try ServiceAccountKey(json: GoogleHarness.keyFile)
        _ = try await google.worker.api.accessToken(account)
        // Another tenant's file naming the same account and key id, with another key: it must
        // get no token (Google refuses its signature), not the cached one.
        let impostor = try ServiceAccountKey(json: try ServiceAccountKey.file(email: GoogleHarness.email, key: try PrivateKey.generateRSA(), keyID: "key-1"))
        await #expect(throws: GoogleAPIError.self) { try await google.worker.api.accessToken(impostor) }
        let issued = google.sim.tokensIssued()
        _ = try await google.worker.api.accessToken(account)
        #expect(google.sim.tokensIssued() == issued, "the real key's token is still cached")
        await google.stop()
    }

    @Test("a test-mode card stays off Google; check lists the issuer's classes")
    func testModeAndCheck() async throws {
        let google = try await GoogleHarness.start(.sqlite)
        let test = try await google.card(mode: .test)
        #expect(try await google.jobStates().isEmpty)
        #expect(try await google.cards.googleSaveLink(test) == nil)
        let live = try await google.card()
        try await google.drain()
        #expect(try await google.worker.check(tenant: google.tenant) == [WalletIDs.classID(issuer: GoogleHarness.issuer, template: live.templateID)])
        #expect(google.sim.objects().count == 1)
        await google.stop()
    }

    @Test("the save link syncs first and links the object by id (a short JWT); unreachable Google falls back to the object in the JWT or says why")
    func saveLinks() async throws {
        let google = try await GoogleHarness.start(.sqlite)
        let card = try await google.card()
        let link = try await google.worker.saveLink(for: card)
        #expect(link.hasPrefix(SaveLink.base))
        let jwt = String(link.dropFirst(SaveLink.base.count))
        #expect(jwt.count < SaveLink.maxJWTLength)
        let claims = try JWT.verifyRS256(jwt, key: PublicKey(pem: GoogleHarness.key.publicKeyPEM())).claims
        #expect(claims["payload"]?["loyaltyObjects"]?.arrayValue?.first?["id"] == .string(google.objectID(card)))
        #expect(claims["origins"] == .array([.string("https://shop.example.com")]))
        #expect(google.sim.object(google.objectID(card)) != nil, "the object exists before the link is followed")

        await google.sim.stop()
        let other = try await google.card()
        await #expect { try await google.worker.saveLink(for: other) } throws: { error in
            "\(error)".contains("1800") && "\(error)".contains("skinny")
        }
        google.client.shutdown()
        await google.database.close()
    }
}

@Suite("Pacing calls to one issuer")
struct PacerTests {
    @Test("a burst of a second's worth goes at once; the rest wait their turn; other issuers do not wait")
    func pacing() async {
        let pacer = Pacer(perSecond: 20)
        let start = Date()
        for _ in 0..<20 { await pacer.wait("a") }
        let burst = Date().timeIntervalSince(start)
        for _ in 0..<20 { await pacer.wait("a") }
        let paced = Date().timeIntervalSince(start)
        // Lower bounds only: a slow machine makes these longer, never shorter.
        #expect(paced >= 0.9, "20 calls past the burst at 20/s take about a second, took \(paced) s")
        let other = Date()
        await pacer.wait("b")
        #expect(Date().timeIntervalSince(other) < max(0.5, burst + 0.4), "another issuer has its own budget")
    }
}
