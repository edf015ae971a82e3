import ApplePass
import Foundation
import Logging
import LoyaltyRules
import PasslineJSON
import PasslinePush
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import PasslineZip
import Testing

@Suite("Campaigns, messages and delivery tracking")
struct CampaignTests {
    func pass(_ h: PushHarness, _ serial: String) async throws -> JSONValue {
        let card = try await h.cards.get(tenant: h.tenant, mode: nil, serial: serial)
        return try #require(PassVerifier.verify(try await h.cards.pass(card), trustAnchors: nil).passJSON)
    }

    func news(_ pass: JSONValue) -> JSONValue? {
        pass["storeCard"]?["backFields"]?.arrayValue?.first { $0["key"] == .string("news") }
    }

    @Test("a reissue campaign gives every card a new version and every device one push, in steps, with progress and delivery counts", arguments: TestDatabase.available)
    func reissue(kind: TestDatabase) async throws {
        let h = try await PushHarness.start(kind)
        var serials: [String] = []
        for n in 0..<45 {
            let serial = try await h.card()
            serials.append(serial)
            try await h.register(device: "phone-\(n)", token: PushHarness.token(n), serial: serial)
        }
        let voided = serials[7]
        _ = try await h.cards.change(tenant: h.tenant, mode: .live, serial: voided, memberName: nil, fields: nil, voided: true, jobs: h.jobs)
        try await h.drain()
        h.sim.reset()
        // A test-mode card of the same template is not part of a live campaign.
        _ = try await h.card(mode: .test)

        let campaigns = CardCampaigns(cards: h.cards, jobs: h.jobs, stepSize: 10, logger: Logger(label: "test"))
        let started = try await campaigns.start(tenant: h.tenant, mode: .live, template: "loyalty", change: .init())
        #expect(started.total == 44 && started.done == 0 && started.state == "running" && started.kind == "reissue")
        #expect(try await campaigns.runOnce() == 44)
        let status = try await campaigns.status(tenant: h.tenant, id: started.id)
        #expect(status.campaign.done == 44 && status.campaign.failed == 0 && status.campaign.state == "finished")
        for serial in serials where serial != voided {
            #expect(try await h.cards.get(tenant: h.tenant, mode: .live, serial: serial).version == 2)
        }

        try await h.drain()
        #expect(Set(h.sim.pushes().map(\.token)) == Set((0..<45).filter { $0 != 7 }.map(PushHarness.token)))
        #expect(h.sim.pushes().count == 44)
        let after = try await campaigns.status(tenant: h.tenant, id: started.id)
        #expect(after.pushes["delivered"] == 44 && after.fetched == 0)
        // A device fetches its new version: "delivered" and "opened" are told apart.
        try await h.cards.recordFetch(try await h.cards.get(tenant: h.tenant, mode: .live, serial: serials[0]))
        #expect(try await campaigns.status(tenant: h.tenant, id: started.id).fetched == 1)
        // Another tenant cannot see it.
        await #expect(throws: DomainError.self) { try await campaigns.status(tenant: "tn_other", id: started.id) }
        await h.stop()
    }

    @Test("a card voided after the campaign started is counted as failed, with the reason; the others go on")
    func voidedMeanwhile() async throws {
        let h = try await PushHarness.start(.sqlite)
        let serials = [try await h.card(), try await h.card(), try await h.card()]
        let started = try await h.campaigns.start(tenant: h.tenant, mode: .live, template: "loyalty", change: .init(fields: JSONObject([("tier", .string("Gold"))])))
        _ = try await h.cards.change(tenant: h.tenant, mode: .live, serial: serials[1], memberName: nil, fields: nil, voided: true, jobs: h.jobs)
        try await h.campaigns.runOnce()
        let status = try await h.campaigns.status(tenant: h.tenant, id: started.id)
        #expect(status.campaign.done == 2 && status.campaign.failed == 1 && status.campaign.kind == "fields")
        let reason = try await h.database.withConnection { try $0.first("SELECT reason FROM campaign_cards WHERE state = 'failed'", [])?.optionalString("reason") }
        #expect(reason?.contains("voided") == true)
        let tier = try await pass(h, serials[0])["storeCard"]?["headerFields"]?.arrayValue?.first?["value"]
        #expect(tier == .string("Gold"))
        await h.stop()
    }

    @Test("fields that do not fit the template, and a message to a template without a message field, are refused before any card changes")
    func refusedUpFront() async throws {
        let h = try await PushHarness.start(.sqlite)
        let serial = try await h.card()
        // tier is a text field; an object there cannot build a pass.
        await #expect(throws: PassError.self) {
            try await h.campaigns.start(tenant: h.tenant, mode: .live, template: "loyalty", change: .init(fields: JSONObject([("tier", .object(JSONObject()))])))
        }
        // A template whose news field is fixed text has nowhere to put a message.
        var files = TestSupport.templateFiles("loyalty")
        files["pass.json"] = Array(String(decoding: files["pass.json"]!, as: UTF8.self)
            .replacingOccurrences(of: "{{message:string|Welcome to Lumen Rewards.}}", with: "Welcome.").utf8)
        let writer = try ZipWriter()
        for (name, bytes) in files { try writer.add(name, bytes) }
        _ = try await h.cards.templates.create(tenant: h.tenant, name: "plain", zip: try writer.finish())
        await #expect { try await h.campaigns.start(tenant: h.tenant, mode: .live, template: "plain", change: .init(message: "Hi")) } throws: { error in
            (error as? DomainError)?.message.contains("no {{message}} placeholder") == true
        }
        await #expect(throws: DomainError.self) { try await h.campaigns.start(tenant: h.tenant, mode: .live, template: "nope", change: .init()) }
        #expect(try await h.cards.get(tenant: h.tenant, mode: .live, serial: serial).version == 1)
        let campaigns = try await h.database.withConnection { try $0.first("SELECT COUNT(*) AS n FROM campaigns", [])!.int("n") }
        #expect(campaigns == 0)
        await h.stop()
    }

    @Test("a message lands in the back field whose changeMessage is %@; the same message twice still changes the value", arguments: TestDatabase.available)
    func messages(kind: TestDatabase) async throws {
        let h = try await PushHarness.start(kind)
        let serial = try await h.card()
        try await h.register(device: "phone", token: PushHarness.token(1), serial: serial)
        let text = "Double points this weekend"

        _ = try await h.cards.sendMessage(tenant: h.tenant, mode: .live, serial: serial, message: text, jobs: h.jobs)
        let first = try #require(news(try await pass(h, serial)))
        #expect(first["value"] == .string(text) && first["changeMessage"] == .string("%@"))
        try await h.drain()

        let started = try await h.campaigns.start(tenant: h.tenant, mode: .live, template: "loyalty", change: .init(message: text))
        try await h.campaigns.runOnce()
        try await h.drain()
        let second = try #require(news(try await pass(h, serial))?["value"]?.stringValue)
        #expect(second != text, "Wallet shows a change only when the value changes")
        #expect(second.unicodeScalars.filter { $0.properties.generalCategory != .format }.map(String.init).joined() == text, "the difference is invisible")

        _ = try await h.cards.sendMessage(tenant: h.tenant, mode: .live, serial: serial, message: text, jobs: h.jobs)
        #expect(news(try await pass(h, serial))?["value"] == .string(text))
        try await h.drain()
        #expect(h.sim.pushes().count == 3, "one push for each message")
        #expect(try await h.campaigns.status(tenant: h.tenant, id: started.id).campaign.kind == "message")
        await h.stop()
    }

    @Test("a single card's push goes ahead of a campaign's backlog")
    func interactiveFirst() async throws {
        let h = try await PushHarness.start(.sqlite)
        var serials: [String] = []
        for n in 0..<30 {
            let serial = try await h.card()
            serials.append(serial)
            try await h.register(device: "phone-\(n)", token: PushHarness.token(n), serial: serial)
        }
        try await h.campaigns.start(tenant: h.tenant, mode: .live, template: "loyalty", change: .init())
        try await h.campaigns.runOnce()
        let single = try await h.card()
        try await h.register(device: "counter", token: PushHarness.token(99), serial: single)
        try await h.earn(single)
        let next = try await h.jobs.claim(limit: 1, kinds: ["apns.push"])
        #expect(next.first?.payload.contains(PushHarness.token(99)) == true, "the customer at the counter comes first")
        await h.stop()
    }

    @Test("a test-mode card's pushes are recorded as sent and never reach APNs")
    func testMode() async throws {
        let h = try await PushHarness.start(.sqlite)
        let test = try await h.card(mode: .test), live = try await h.card()
        try await h.register(device: "tester", token: PushHarness.token(1), serial: test)
        try await h.register(device: "customer", token: PushHarness.token(2), serial: live)
        _ = try await h.cards.transact(.init(serial: test, points: 5, reason: "visit"), tenant: h.tenant, mode: .test, jobs: h.jobs) { _ in [] }
        try await h.earn(live)
        try await h.drain()
        #expect(h.sim.pushes().map(\.token) == [PushHarness.token(2)])
        let rows = try await h.database.withConnection { try $0.query("SELECT push_token, outcome, reason FROM push_deliveries ORDER BY push_token", []) }
        #expect(try rows.map { try $0.string("outcome") } == ["delivered", "delivered"])
        #expect(try rows[0].optionalString("reason")?.contains("test mode") == true && rows[1].optionalString("reason") == nil)
        await h.stop()
    }
}
