import Foundation
import GoogleWallet
import Logging
import PasslineCrypto
import PasslineGoogle
import PasslineHTTPClient
import PasslineJSON
import PasslineServer
import PasslineService
import PasslineStore
import PasslineTestSupport
import Testing

@Suite("Google Wallet over HTTP: admin settings, save links, the program logo")
struct GoogleHTTPTests {
    @Test("admin sets Google up (bad bodies named); cards get links.googleSave; the link syncs and redirects to Google; test cards get none")
    func endToEnd() async throws {
        let google = try await GoogleHarness.start(.sqlite, configure: false)
        let services = Services(tenants: google.cards.tenants, templates: google.cards.templates, cards: google.cards, jobs: google.jobs,
                                logger: Logger(label: "test"), googleSaveURL: { card in try await google.worker.saveLink(for: card) })
        let configuration = try ServerConfiguration.resolve(listen: "127.0.0.1:0", environment: ["PASSLINE_ADMIN_TOKEN": "admin-secret-0123456789"])
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let app = buildApplication(services: services, configuration: configuration, logger: logger) { continuation.yield($0) }
        let server = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        let base = "http://127.0.0.1:\(await iterator.next()!)"
        let http = HTTPClient()

        func send(_ method: String, _ path: String, _ body: String? = nil, key: String? = nil) async throws -> (status: Int, json: JSONValue?, response: HTTPResponse) {
            var headers: [(name: String, value: String)] = [(name: "Content-Type", value: "application/json")]
            if let key { headers.append((name: "Authorization", value: "Bearer \(key)")) }
            let response = try await http.send(HTTPRequest(method: method, url: base + path, headers: headers, body: Array((body ?? "").utf8)))
            return (response.status, try? JSONParser.parse(response.body), response)
        }

        // Admin: settings, with bad bodies named and nothing stored.
        let path = "/admin/v1/tenants/\(google.tenant)/google"
        let keyFile = String(decoding: GoogleHarness.keyFile, as: UTF8.self)
        #expect(try await send("PUT", path, #"{"issuerId":"\#(GoogleHarness.issuer)","serviceAccount":\#(keyFile)}"#, key: "wrong").status == 401)
        let missing = try await send("PUT", path, #"{"serviceAccount":42}"#, key: "admin-secret-0123456789")
        #expect(missing.status == 422)
        let fields = missing.json?["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
        #expect(fields == ["issuerId", "serviceAccount"], "\(String(decoding: missing.response.body, as: UTF8.self))")
        let broken = try await send("PUT", path, #"{"issuerId":"\#(GoogleHarness.issuer)","serviceAccount":{"type":"service_account"}}"#, key: "admin-secret-0123456789")
        #expect(broken.status == 422 && broken.json?["detail"]?.stringValue?.contains("client_email") == true)
        #expect(try await send("GET", path, key: "admin-secret-0123456789").status == 404)
        let other = try await send("PUT", "/admin/v1/tenants/tn_nobody/google", #"{"issuerId":"\#(GoogleHarness.issuer)","serviceAccount":\#(keyFile)}"#, key: "admin-secret-0123456789")
        #expect(other.status == 404)

        let existing = try await google.card()
        let set = try await send("PUT", path, #"{"issuerId":"\#(GoogleHarness.issuer)","serviceAccount":\#(keyFile),"origins":["https://shop.example.com"]}"#,
                                 key: "admin-secret-0123456789")
        #expect(set.status == 200, "\(String(decoding: set.response.body, as: UTF8.self))")
        #expect(set.json?["serviceAccountEmail"] == .string(GoogleHarness.email) && set.json?["cardsQueued"] == .int(1))
        #expect(!String(decoding: set.response.body, as: UTF8.self).contains("PRIVATE KEY"), "no key material comes back")
        try await google.drain()
        #expect(google.sim.object(google.objectID(existing)) != nil, "cards issued before Google was set up get their objects too")

        // A new card carries the link; following it syncs first, then redirects with a short JWT.
        let created = try await send("POST", "/api/v1/cards", #"{"template":"loyalty","memberId":"M-7","memberName":"Ada","points":10}"#, key: google.liveKey)
        #expect(created.status == 201)
        let link = try #require(created.json?["links"]?["googleSave"]?.stringValue)
        #expect(link.hasPrefix("https://cards.example.com/c/") && link.hasSuffix("/google"))
        let serial = try #require(created.json?["serialNumber"]?.stringValue)
        let followed = try await send("GET", String(link.dropFirst("https://cards.example.com".count)))
        #expect(followed.status == 302)
        let location = try #require(followed.response.header("location"))
        #expect(location.hasPrefix(SaveLink.base) && location.count - SaveLink.base.count <= SaveLink.maxJWTLength)
        #expect(google.sim.object(WalletIDs.objectID(issuer: GoogleHarness.issuer, serial: serial)) != nil)

        // A transaction through the partner API reaches Google as a PATCH with the new balance.
        let earned = try await send("POST", "/api/v1/cards/\(serial)/transactions", #"{"points":15,"reason":"visit"}"#, key: google.liveKey)
        #expect(earned.status == 201)
        try await google.drain()
        let patch = try #require(google.sim.calls().last { $0.method == "PATCH" && $0.path.hasSuffix(serial) })
        #expect(try JSONParser.parse(patch.body)["loyaltyPoints"]?["balance"]?["int"] == .int(25))
        // Followed again with the object in step with the card: no call to Google at all.
        let callsBefore = google.sim.calls().count
        for _ in 0..<3 { #expect(try await send("GET", String(link.dropFirst("https://cards.example.com".count))).status == 302) }
        #expect(google.sim.calls().count == callsBefore, "each visit called Google: \(google.sim.calls().dropFirst(callsBefore).map(\.path))")

        // The page offers Google; the class's logo is served publicly.
        let page = try await send("GET", String(link.dropFirst("https://cards.example.com".count).dropLast("/google".count)))
        #expect(String(decoding: page.response.body, as: UTF8.self).contains("add-to-google-wallet"))
        let templateID = try #require(created.json?["template"]?.stringValue)
        let logo = try await send("GET", "/t/\(templateID)/logo.png")
        #expect(logo.status == 200 && logo.response.header("content-type") == "image/png" && logo.response.body.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(try await send("GET", "/t/tpl_nothing/logo.png").status == 404)
        #expect(try await send("GET", "/c/no-such-token/google").status == 404)

        // Test-mode cards stay off Google.
        let testKey = try await google.cards.tenants.createKey(tenant: google.tenant, mode: .test)
        let testCard = try await send("POST", "/api/v1/cards", #"{"template":"loyalty","memberId":"T-1","memberName":"Test","points":0}"#, key: testKey)
        #expect(testCard.status == 201 && testCard.json?["links"]?["googleSave"] == nil)

        let shown = try await send("GET", path, key: "admin-secret-0123456789")
        #expect(shown.status == 200 && shown.json?["pausedReason"] == .null)

        server.cancel()
        _ = await server.result
        http.shutdown()
        await google.stop()
    }

    @Test("Google's signed save and deletion reports count once each, in the installs and as pass.installed/removed; forged, stale and foreign reports are refused", arguments: TestDatabase.available)
    func saveReports(kind: TestDatabase) async throws {
        let google = try await GoogleHarness.start(kind)
        // The production API client fetches the stand-in's root keys over HTTPS, as it would Google's.
        let api = GoogleWalletAPI(client: google.client, configuration: .init(tokenURL: google.sim.tokenURL, apiURL: google.sim.apiURL, keysURL: google.sim.keysURL))
        let webhooks = Webhooks(database: google.database, secrets: google.cards.tenants.secrets, addresses: WebhookAddresses(allowLoopback: true))
        let services = Services(tenants: google.cards.tenants, templates: google.cards.templates, cards: google.cards, jobs: google.jobs,
                                logger: Logger(label: "test"), webhooks: webhooks, googleKeys: api)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let app = buildApplication(services: services, configuration: try ServerConfiguration.resolve(listen: "127.0.0.1:0", environment: [:]), logger: logger) {
            continuation.yield($0)
        }
        let server = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        let base = "http://127.0.0.1:\(await iterator.next()!)"
        let http = HTTPClient()
        defer { server.cancel(); http.shutdown() }
        _ = try await webhooks.create(tenant: google.tenant, mode: .live, .init(url: "http://127.0.0.1:9/hook", events: ["pass.installed", "pass.removed"]))

        let card = try await google.card()
        try await google.drain()
        let classID = WalletIDs.classID(issuer: GoogleHarness.issuer, template: card.templateID)
        #expect(google.sim.loyaltyClass(classID)?["callbackOptions"]?["url"] == .string("https://cards.example.com/google/v1/callbacks"),
                "each class tells Google where to report")

        func post(_ body: [UInt8]) async throws -> (status: Int, detail: String) {
            let response = try await http.send(HTTPRequest(method: "POST", url: base + "/google/v1/callbacks", headers: [(name: "Content-Type", value: "application/json")], body: body))
            return (response.status, (try? JSONParser.parse(response.body))?["detail"]?.stringValue ?? "")
        }
        func totals() async throws -> JSONValue? {
            let response = try await http.send(HTTPRequest(method: "GET", url: base + "/api/v1/installs", headers: [(name: "Authorization", value: "Bearer \(google.liveKey)")]))
            return try JSONParser.parse(response.body)["totals"]?["google"]
        }
        let objectID = google.objectID(card)
        let (url, saved) = try #require(try google.sim.report(objectID: objectID, saved: true, nonce: "nonce-save-1"))
        #expect(url == "https://cards.example.com/google/v1/callbacks")
        #expect(try await post(saved).status == 200)
        #expect(try await post(saved).status == 200, "Google's retry of the same report")
        #expect(try await totals() == .object(JSONObject([("installs", .int(1)), ("removals", .int(0)), ("active", .int(1))])), "counted once")

        // Refused, naming why, and nothing counted.
        let forged = try #require(try google.sim.report(objectID: objectID, saved: true, signer: try PrivateKey.generateP256())).body
        let foreign = try #require(try google.sim.report(objectID: objectID, saved: true, issuer: "3388000000099999999")).body
        let stale = try #require(try google.sim.report(objectID: objectID, saved: true, expiresAt: WallClock.milliseconds() - 1)).body
        var tampered = String(decoding: saved, as: UTF8.self)
        tampered = tampered.replacingOccurrences(of: "nonce-save-1", with: "nonce-save-2")
        for (body, reason) in [(forged, "root keys"), (foreign, "does not check for issuer"), (stale, "expired"), (Array(tampered.utf8), "does not check"),
                               (Array("not json".utf8), "not a JSON object"), (Array(#"{"signature":"!!"}"#.utf8), "base64"),
                               (Array(repeating: UInt8(ascii: " "), count: 70_000), "over the limit")] {
            let answer = try await post(body)
            #expect(answer.status == 422 || answer.status == 413, "\(reason): \(answer)")
            #expect(answer.detail.contains(reason), "\(answer.detail)")
        }
        #expect(try await totals() == .object(JSONObject([("installs", .int(1)), ("removals", .int(0)), ("active", .int(1))])))

        let deleted = try #require(try google.sim.report(objectID: objectID, saved: false)).body
        #expect(try await post(deleted).status == 200)
        #expect(try await totals() == .object(JSONObject([("installs", .int(1)), ("removals", .int(1)), ("active", .int(0))])))

        // A report of an object no card has is acknowledged and changes nothing.
        let other = try await google.card()
        try await google.drain()
        let orphan = try #require(try google.sim.report(objectID: google.objectID(other), saved: true)).body
        try await google.database.withConnection { _ = try $0.execute("DELETE FROM google_objects WHERE serial_number = ?", [.text(other.serialNumber)]) }
        #expect(try await post(orphan).status == 200)
        #expect(try await totals() == .object(JSONObject([("installs", .int(1)), ("removals", .int(1)), ("active", .int(0))])))

        let events = try await google.database.withConnection { connection in
            try connection.query("SELECT type, data FROM events WHERE tenant_id = ? ORDER BY created_at, type DESC", [.text(google.tenant)])
                .map { (try $0.string("type"), try JSONParser.parse(try $0.string("data"))) }
        }
        #expect(events.map(\.0) == ["pass.installed", "pass.removed"])
        #expect(events.allSatisfy { $0.1["wallet"] == .string("google") && $0.1["card"]?["serialNumber"] == .string(card.serialNumber) })
        await google.stop()
    }
}
