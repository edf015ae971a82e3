import Foundation
import LoyaltyRules
import PasslineJSON
import PasslineTestSupport
import PasslineZip
import Testing

@Suite("The manager's card design and program: templates, the default, branding, tiers, reminder words, the card at each stage")
struct WebAppDesignTests {
    static func zip(_ files: [String: [UInt8]]) throws -> [UInt8] {
        let writer = try ZipWriter()
        for (name, bytes) in files.sorted(by: { $0.key < $1.key }) { try writer.add(name, bytes) }
        return try writer.finish()
    }

    @Test("templates: uploaded in the app (bad ones refused naming why), previewed as the card page draws them, one chosen as default; another business's refused",
          arguments: TestDatabase.available)
    func templates(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let tenant = server.tenantA.id
        let manager = WebVisitor(server)
        try await manager.accept(try await server.services.staff.invite(tenant: tenant, email: "m@example.com", role: .manager, by: .operator).link)
        let page = try await manager.get("/app/templates")
        #expect(page.status == 200 && page.html.contains("Card design"), "\(page.html.prefix(300))")
        let csrf = try #require(page.csrf)
        let files = TestSupport.templateFiles("loyalty")

        // Uploads: a good one, one without pass.json, one not a zip, one without a name, one twice.
        let first = try await manager.upload("/app/templates", [("_csrf", csrf), ("name", "gold")], file: ("file", "gold.zip", "application/zip", try Self.zip(files)))
        #expect(first.status == 303 && first.location == "/app/templates", "\(first.html)")
        var broken = files
        broken["pass.json"] = nil
        let missing = try await manager.upload("/app/templates", [("_csrf", csrf), ("name", "broken")], file: ("file", "b.zip", "application/zip", try Self.zip(broken)))
        #expect(missing.status == 422 && missing.html.contains("pass.json"), "\(missing.html)")
        let notZip = try await manager.upload("/app/templates", [("_csrf", csrf), ("name", "text")], file: ("file", "t.zip", "application/zip", Array("hello".utf8)))
        #expect(notZip.status == 422 && notZip.html.contains("cannot be used"), "\(notZip.html)")
        let unnamed = try await manager.upload("/app/templates", [("_csrf", csrf), ("name", " ")], file: ("file", "g.zip", "application/zip", try Self.zip(files)))
        #expect(unnamed.status == 422 && unnamed.html.contains("name"))
        let twice = try await manager.upload("/app/templates", [("_csrf", csrf), ("name", "gold")], file: ("file", "gold.zip", "application/zip", try Self.zip(files)))
        #expect(twice.status == 409, "\(twice.status) \(twice.html)")
        let forged = try await manager.upload("/app/templates", [("_csrf", "forged"), ("name", "evil")], file: ("file", "e.zip", "application/zip", try Self.zip(files)))
        #expect(forged.status == 403)
        let second = try await manager.upload("/app/templates", [("_csrf", csrf), ("name", "silver")], file: ("file", "s.zip", "application/zip", try Self.zip(files)))
        #expect(second.status == 303)
        let list = try await server.services.cards.templates.list(tenant: tenant, mode: .live)
        let gold = try #require(list.first { $0.name == "gold" }), silver = try #require(list.first { $0.name == "silver" })
        #expect(!list.contains { $0.name == "evil" || $0.name == "broken" })

        // The default comes first in every form, and only the others offer to become it.
        #expect(try await manager.post("/app/templates/\(gold.id)/default", [("_csrf", csrf)]).status == 303)
        var listed = try await manager.get("/app/templates")
        #expect(listed.html.range(of: "<h3>gold</h3>")!.lowerBound < listed.html.range(of: "<h3>silver</h3>")!.lowerBound)
        #expect(listed.html.contains("/app/templates/\(silver.id)/default") && !listed.html.contains("/app/templates/\(gold.id)/default"))
        #expect(try await manager.post("/app/templates/\(silver.id)/default", [("_csrf", csrf)]).status == 303)
        listed = try await manager.get("/app/templates")
        #expect(listed.html.range(of: "<h3>silver</h3>")!.lowerBound < listed.html.range(of: "<h3>gold</h3>")!.lowerBound)
        let messages = try await manager.get("/app/messages")
        #expect(messages.html.range(of: "value=\"\(silver.id)\"")!.lowerBound < messages.html.range(of: "value=\"\(gold.id)\"")!.lowerBound, "the default is offered first")
        let imports = try await manager.get("/app/members/import")
        #expect(imports.html.range(of: "value=\"\(silver.id)\"")!.lowerBound < imports.html.range(of: "value=\"\(gold.id)\"")!.lowerBound)

        // The preview is the card page's own drawing of a sample card, framed by the app only.
        let preview = try await manager.get("/app/templates/\(gold.id)/preview")
        #expect(preview.status == 200 && preview.html.contains("Alex Sample") && preview.html.contains("1,250") && preview.html.contains("<article class=\"card\""), "\(preview.status) \(preview.html.prefix(1500))")
        #expect(!preview.html.contains("add-to-apple-wallet") && preview.html.contains("data:image/png;base64,"), "only the card, its images inline")
        #expect(preview.reply.header("Content-Security-Policy")?.contains("frame-ancestors 'self'") == true)
        #expect(try await manager.get("/app/templates").reply.header("Content-Security-Policy")?.contains("frame-src 'self'") == true)

        // Another business's template: no preview, no default; the front desk sees none of this.
        let other = try await server.services.cards.templates.create(tenant: server.tenantB.id, name: "theirs", zip: try Self.zip(files))
        #expect(try await manager.get("/app/templates/\(other.id)/preview").status == 404)
        #expect(try await manager.post("/app/templates/\(other.id)/default", [("_csrf", csrf)]).status == 404)
        #expect(try await server.services.branding.look(tenant: tenant).defaultTemplate == silver.id)
        let desk = WebVisitor(server)
        try await desk.accept(try await server.services.staff.invite(tenant: tenant, email: "d@example.com", role: .frontdesk, by: .operator).link)
        #expect(try await desk.get("/app/templates").status == 403)
        #expect(try await desk.get("/app/templates/\(gold.id)/preview").status == 403)
        let activity = try await manager.get("/app/activity")
        #expect(activity.html.contains("template.uploaded") && activity.html.contains("template.default"))
        await server.stop()
    }

    @Test("branding: colours checked for contrast, a logo checked as a PNG; both head the app and the customer's card page", arguments: TestDatabase.available)
    func branding(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let tenant = server.tenantA.id
        let manager = WebVisitor(server)
        try await manager.accept(try await server.services.staff.invite(tenant: tenant, email: "m@example.com", role: .manager, by: .operator).link)
        let template = try await server.services.cards.templates.create(tenant: tenant, name: "loyalty-real", zip: try Self.zip(TestSupport.templateFiles("loyalty")))
        let card = try await server.services.cards.create(tenant: tenant, mode: .live, .init(template: template.id, memberID: "B1", memberName: "Bea", points: 3))
        let cardPage = "/c/\(card.publicToken)"
        let plain = try await server.send("GET", cardPage)
        #expect(plain.status == 200 && !String(decoding: plain.body, as: UTF8.self).contains("brandbar"), "no branding chosen: the page as it was")
        let page = try await manager.get("/app/templates")
        #expect(!page.html.contains("/app/brand.css"))
        let csrf = try #require(page.csrf)

        for (background, text, reason) in [("#ffffff", "#eeeeee", "contrast"), ("red", "#000000", "#RRGGBB"), ("#12345", "#ffffff", "#RRGGBB"), ("#1f3a5f", "", "#RRGGBB")] {
            let refused = try await manager.post("/app/branding", [("_csrf", csrf), ("background", background), ("text", text)])
            #expect(refused.status == 422 && refused.html.contains(reason), "\(background)/\(text): \(refused.html.prefix(300))")
        }
        #expect(try await server.services.branding.look(tenant: tenant).isChosen == false, "nothing refused was kept")
        #expect(try await manager.post("/app/branding", [("_csrf", csrf), ("background", "#7A1F5C"), ("text", "#FFFFFF")]).status == 303)
        let branded = try await manager.get("/app/desk")
        let version = try await server.services.branding.look(tenant: tenant).version
        #expect(branded.html.contains("/app/brand.css?v=\(version)"))
        let css = try await manager.get("/app/brand.css?v=\(version)")
        #expect(css.status == 200 && css.html.contains(".bar { background: #7a1f5c; color: #ffffff;") && css.reply.header("Content-Type")?.hasPrefix("text/css") == true)

        // Logos: not a PNG, a truncated PNG, too large; then a real one.
        let logo = try #require(TestSupport.templateFiles("loyalty")["logo.png"])
        for (bytes, reason) in [(Array("GIF89a".utf8), "PNG"), (Array(logo.prefix(40)), "PNG"), ([UInt8](repeating: 0, count: 300 * 1024), "KB")] {
            let refused = try await manager.upload("/app/branding/logo", [("_csrf", csrf)], file: ("logo", "logo.png", "image/png", bytes))
            #expect(refused.status == 422 && refused.html.contains(reason), "\(refused.status) \(refused.html.prefix(300))")
        }
        let huge = try await manager.upload("/app/branding/logo", [("_csrf", csrf)], file: ("logo", "logo.png", "image/png", [UInt8](repeating: 7, count: 2 * 1024 * 1024)))
        #expect(huge.status == 413 && huge.html.contains("at most 256 KB"), "an upload past the limit is not read: \(huge.status) \(huge.html.prefix(200)) \(huge.reply.headers)")
        let empty = try await manager.upload("/app/branding/logo", [("_csrf", csrf)], file: ("logo", "logo.png", "image/png", []))
        #expect(empty.status == 422 && empty.html.contains("Choose a PNG"))
        #expect(try await manager.upload("/app/branding/logo", [("_csrf", "forged")], file: ("logo", "logo.png", "image/png", logo)).status == 403)
        #expect(try await manager.upload("/app/branding/logo", [("_csrf", csrf)], file: ("logo", "logo.png", "image/png", logo)).status == 303)
        let look = try await server.services.branding.look(tenant: tenant)
        let header = try await manager.get("/app/desk")
        #expect(header.html.contains("/app/brand/logo.png?v=\(look.version)"))
        let served = try await manager.get("/app/brand/logo.png?v=\(look.version)")
        #expect(served.status == 200 && Array(served.reply.body) == logo)

        // The customer's card page wears it: the bar, its colours, the logo under the card's own link.
        let public_ = String(decoding: try await server.send("GET", cardPage).body, as: UTF8.self)
        #expect(public_.contains("class=\"brandbar\"") && public_.contains("background: #7a1f5c; color: #ffffff")
                && public_.contains("\(card.publicToken)/brand.png?v=\(look.version)") && public_.contains(##"<meta name="theme-color" content="#7a1f5c">"##))
        let publicLogo = try await server.send("GET", "\(cardPage)/brand.png")
        #expect(publicLogo.status == 200 && Array(publicLogo.body) == logo)
        // Another business's card page is untouched; its logo link finds nothing.
        let theirs = try await server.services.cards.templates.create(tenant: server.tenantB.id, name: "loyalty-real", zip: try Self.zip(TestSupport.templateFiles("loyalty")))
        let otherCard = try await server.services.cards.create(tenant: server.tenantB.id, mode: .live, .init(template: theirs.id, memberID: "O1", memberName: "Ola", points: 1))
        #expect(!String(decoding: try await server.send("GET", "/c/\(otherCard.publicToken)").body, as: UTF8.self).contains("brandbar"))
        #expect(try await server.send("GET", "/c/\(otherCard.publicToken)/brand.png").status == 404)

        // Removing the logo leaves the colours.
        #expect(try await manager.upload("/app/branding/logo", [("_csrf", csrf), ("remove", "1")], file: ("logo", "", "application/octet-stream", [])).status == 303)
        let after = try await server.services.branding.look(tenant: tenant)
        #expect(!after.hasLogo && after.isChosen && after.colors.background == "#7a1f5c")
        #expect(try await manager.get("/app/brand/logo.png").status == 404)
        await server.stop()
    }

    @Test("the program form: tiers with extra points, each milestone's own words (bad ones named), and the card drawn at each stage with them",
          arguments: TestDatabase.available)
    func programStages(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let tenant = server.tenantA.id
        try await WebAppTests.program(server, tenant: tenant)
        let real = try await server.services.cards.templates.create(tenant: tenant, name: "loyalty-real", zip: try Self.zip(TestSupport.templateFiles("loyalty")))
        _ = try await server.services.branding.setDefaultTemplate(tenant: tenant, mode: .live, idOrName: real.id)
        let manager = WebVisitor(server)
        try await manager.accept(try await server.services.staff.invite(tenant: tenant, email: "m@example.com", role: .manager, by: .operator).link)
        let form = try await manager.get("/app/program")
        let csrf = try #require(form.csrf)
        let base = [("_csrf", csrf), ("methods0", "cash, card"), ("percent0", "10"), ("currency", "EUR"), ("expiryDays", "180"), ("expiryFrom", "earned"),
                    ("reminders", "28, 7")]
        #expect(try await manager.post("/app/program", base).status == 303)
        let saved = try await manager.get("/app/program")
        #expect(saved.html.contains(#"name="text-28""#) && saved.html.contains(#"name="text-7""#) && saved.html.contains("Only 7 days left: 250 points expire"),
                "each milestone's words, the default as its placeholder")

        // Bad words and tiers are named, and what was typed stays.
        let bad = try await manager.post("/app/program", base + [("text-7", "Hurry {name}"), ("tierName0", "Member"), ("tierMin0", "0"), ("tierName1", "Gold"), ("tierMin1", "lots")])
        #expect(bad.status == 422 && bad.html.contains("{name}") && bad.html.contains("Tier 2") && bad.html.contains(#"value="Hurry {name}""#), "\(bad.html.prefix(600))")
        let unordered = try await manager.post("/app/program", base + [("tierName0", "Gold"), ("tierMin0", "500")])
        #expect(unordered.status == 422 && unordered.html.contains("tiers"), "the first tier starts at 0: \(unordered.html.prefix(400))")

        let good = try await manager.post("/app/program", base + [("text-7", "Last call: {points} points go on {date}"), ("tierWindow", "365"),
                                                                  ("tierName0", "Member"), ("tierMin0", "0"), ("tierName1", "Gold"), ("tierMin1", "1000"), ("tierBonus1", "50")])
        #expect(good.status == 303, "\(good.html.prefix(600))")
        let program = try #require(try await server.services.cards.programs.inForce(tenant: tenant, mode: .live, at: Int64(Date().timeIntervalSince1970 * 1000))?.program)
        #expect(program.reminderTexts == [7: "Last call: {points} points go on {date}"])
        #expect(program.tiers?.levels.map(\.name) == ["Member", "Gold"] && program.tiers?.levels.map(\.minPoints) == [0, 1000] && program.tiers?.windowDays == 365)
        #expect(program.tierMultipliers.map(\.tier) == ["Gold"] && program.tierMultipliers.map(\.percent) == [50])
        #expect(program.earnRules.map(\.percent) == [10], "the rest of the program stays")

        // The card at each stage, from the default template, under the saved program.
        let page = try await manager.get("/app/program")
        #expect(page.html.contains(#"value="Gold""#) && page.html.contains(#"value="1000""#) && page.html.contains(#"value="50""#))
        let template = try #require(try await server.services.branding.defaultTemplate(tenant: tenant, mode: .live))
        for stage in ["calm", "28", "7"] { #expect(page.html.contains("/app/templates/\(template.id)/preview?stage=\(stage)"), "\(stage)") }
        let seven = try await manager.get("/app/templates/\(template.id)/preview?stage=7")
        #expect(seven.html.contains("Last call: 250 points go on") && seven.html.contains("rgb(142, 22, 40)"), "the words and the 7-day colours: \(seven.html.prefix(2000))")
        let twentyEight = try await manager.get("/app/templates/\(template.id)/preview?stage=28")
        #expect(twentyEight.html.contains("250 points expire on") && twentyEight.html.contains("rgb(122, 64, 24)"))
        let calm = try await manager.get("/app/templates/\(template.id)/preview?stage=calm")
        #expect(!calm.html.contains("250 points") && calm.html.contains("Member"))
        let odd = try await manager.get("/app/templates/\(template.id)/preview?stage=%3Cscript%3E")
        #expect(odd.status == 200 && !odd.html.contains("<script>"), "an unknown stage draws the calm card")

        // A card that reaches the 7-day milestone carries the business's words.
        #expect(ReminderSchedule.text(points: 3, expiresAt: 0, stage: "7", program: program).hasPrefix("Last call: 3 points go on"))
        // Emptying the tier names turns tiers off.
        #expect(try await manager.post("/app/program", base).status == 303)
        let plain = try #require(try await server.services.cards.programs.inForce(tenant: tenant, mode: .live, at: Int64(Date().timeIntervalSince1970 * 1000))?.program)
        #expect(plain.tiers == nil && plain.tierMultipliers.isEmpty && plain.reminderTexts.isEmpty)
        await server.stop()
    }
}
