import Foundation
import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import PasslineZip
import Testing

/// A browser's part over the router: a cookie jar, forms with their CSRF token, no redirects
/// followed unless asked.
final class WebVisitor: @unchecked Sendable {
    let server: LiveServer
    var cookies: [String: String] = [:]

    init(_ server: LiveServer) { self.server = server }

    struct Page {
        let status: Int
        let html: String
        let location: String?
        let reply: LiveServer.Reply
        /// The value of the first hidden `_csrf` field, as a form on the page carries it.
        var csrf: String? { field("_csrf") }
        func field(_ name: String) -> String? {
            guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
            return String(html[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    @discardableResult
    func get(_ path: String) async throws -> Page { try await send("GET", path, form: nil) }

    @discardableResult
    func post(_ path: String, _ form: [(String, String)], headers: [String: String] = [:]) async throws -> Page {
        try await send("POST", path, form: form, headers: headers)
    }

    private func send(_ method: String, _ path: String, form: [(String, String)]?, headers extra: [String: String] = [:]) async throws -> Page {
        var headers = extra
        if !cookies.isEmpty { headers["Cookie"] = cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }
        var body: String?
        if let form {
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        }
        let reply = try await server.send(method, path, body: body, headers: headers)
        if let setCookie = reply.header("Set-Cookie") {
            for cookie in setCookie.components(separatedBy: ", passline_").enumerated().map({ $0.offset == 0 ? $0.element : "passline_" + $0.element }) {
                let pair = cookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1).map(String.init)
                if pair.count == 2 { cookies[pair[0]] = pair[1].isEmpty ? nil : pair[1] }
            }
        }
        return Page(status: reply.status, html: String(decoding: reply.body, as: UTF8.self), location: reply.header("Location"), reply: reply)
    }

    /// Posts a multipart form with one file, as a browser's file upload does.
    func upload(_ path: String, _ fields: [(String, String)], file: (field: String, name: String, type: String, bytes: [UInt8])) async throws -> Page {
        let boundary = "----passline-test-boundary"
        var body = Data()
        for (name, value) in fields { body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)) }
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(file.field)\"; filename=\"\(file.name)\"\r\nContent-Type: \(file.type)\r\n\r\n".utf8))
        body.append(Data(file.bytes))
        body.append(Data("\r\n--\(boundary)--\r\n".utf8))
        var headers = ["Content-Type": "multipart/form-data; boundary=\(boundary)"]
        if !cookies.isEmpty { headers["Cookie"] = cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }
        let reply = try await server.send("POST", path, bodyData: body, headers: headers)
        return Page(status: reply.status, html: String(decoding: reply.body, as: UTF8.self), location: reply.header("Location"), reply: reply)
    }

    /// Takes up an invitation link: sets the password, and is signed in.
    func accept(_ link: String, password: String = "correct horse battery") async throws {
        let path = String(link[link.range(of: "/app/")!.lowerBound...])
        let page = try await get(path)
        #expect(page.status == 200, "\(page.html)")
        let done = try await post(path, [("_csrf", page.csrf ?? ""), ("name", "Anna"), ("password", password), ("confirm", password)])
        #expect(done.status == 303 && done.location == "/app/desk", "\(done.status) \(done.html)")
    }

    func signIn(_ email: String, password: String = "correct horse battery") async throws -> Page {
        let page = try await get("/app/login")
        return try await post("/app/login", [("_csrf", page.csrf ?? ""), ("email", email), ("password", password), ("next", "/app/desk")])
    }
}

@Suite("The staff web app: sign-in, the front desk, roles and the audit log")
struct WebAppTests {
    static func program(_ server: LiveServer, tenant: String) async throws {
        let document = try #require(try JSONParser.parse(#"{"currency":"EUR","earnRules":[{"paymentMethods":["cash","card"],"percent":10}],"effectiveAt":"2000-01-01T00:00:00Z"}"#).objectValue)
        let services = try await servicesOf(server)
        _ = try await services.cards.programs.change(tenant: tenant, mode: .live, document: document, actor: nil)
        _ = try await services.rewards.create(tenant: tenant, mode: .live, document: try #require(try JSONParser.parse(#"{"name":"Coffee","cost":5}"#).objectValue))
    }

    /// The server's own services.
    static func servicesOf(_ server: LiveServer) async throws -> (cards: Cards, rewards: RewardCatalogue, staff: StaffAccounts) {
        (server.services.cards, server.services.rewards, server.services.staff)
    }

    static func balance(_ server: LiveServer, _ tenant: String, _ serial: String = "S1") async throws -> Int64 {
        try await server.database.withConnection { try $0.first("SELECT points FROM cards WHERE tenant_id = ? AND serial_number = ?", [.text(tenant), .text(serial)])!.int("points") }
    }

    @Test("an invited owner signs in, finds a card by its barcode, credits a purchase after seeing its points, corrects and redeems; each once, each in the audit log",
          arguments: TestDatabase.available)
    func frontDesk(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let tenant = server.tenantA.id
        try await Self.program(server, tenant: tenant)
        let staff = try await Self.servicesOf(server).staff
        let invitation = try await staff.invite(tenant: tenant, email: "Owner@Lumen.example", role: .owner, by: .operator)
        #expect(invitation.link.hasPrefix("https://cards.example.com/app/invite/") && invitation.staff.email == "owner@lumen.example")
        let browser = WebVisitor(server)
        #expect(try await browser.get("/app/desk").location == "/app/login?next=/app/desk", "no session: sign in first")
        try await browser.accept(invitation.link)
        let used = try await WebVisitor(server).get(String(invitation.link.dropFirst("https://cards.example.com".count)))
        #expect(used.status == 404, "an invitation works once")

        let desk = try await browser.get("/app/desk")
        #expect(desk.status == 200 && desk.html.contains("Scan the card"))
        #expect(desk.reply.header("Content-Security-Policy")?.contains("script-src 'self'") == true && desk.reply.header("Cache-Control") == "no-store")
        // A keyboard-wedge scanner types the barcode's message (the member id) and Enter.
        let found = try await browser.get("/app/desk/find?code=M1%0D")
        #expect(found.status == 303 && found.location == "/app/members/S1")
        let member = try await browser.get("/app/members/S1")
        #expect(member.status == 200 && member.html.contains("Ada") && member.html.contains(#"<span id="balance">0</span>"#))

        // The purchase: its points shown first, then confirmed once, however often it is sent.
        let preview = try await browser.post("/app/members/S1/purchase", [("_csrf", member.csrf!), ("amount", "123,45"), ("paymentMethod", "cash")])
        #expect(preview.status == 200 && preview.html.contains(#"<strong id="points-preview">12</strong>"#) && preview.html.contains("123.45 EUR"), "\(preview.html)")
        #expect(try await Self.balance(server, tenant) == 0, "nothing is credited before the confirmation")
        let confirm: [(String, String)] = [("_csrf", preview.csrf!), ("amount", preview.field("amount")!), ("paymentMethod", "cash"),
                                           ("nonce", preview.field("nonce")!), ("confirm", "1")]
        let done = try await browser.post("/app/members/S1/purchase", confirm)
        #expect(done.status == 303 && done.location?.hasPrefix("/app/members/S1?done=") == true, "\(done.status) \(done.html)")
        #expect(try await browser.post("/app/members/S1/purchase", confirm).status == 303, "a second tap is answered as the first")
        #expect(try await Self.balance(server, tenant) == 12)
        let after = try await browser.get(done.location!)
        #expect(after.html.contains("Done: +12 points. Balance 12.") && after.html.contains(#"<tr class="new">"#), "\(after.html)")

        let corrected = try await browser.post("/app/members/S1/correct", [("_csrf", after.csrf!), ("nonce", "n-correct-1"), ("points", "-2"), ("reason", "typo")])
        #expect(corrected.status == 303)
        let redeemed = try await browser.post("/app/members/S1/redeem", [("_csrf", after.csrf!), ("nonce", "n-redeem-1"), ("reward", "Coffee")])
        #expect(redeemed.status == 303, "\(redeemed.html)")
        #expect(try await Self.balance(server, tenant) == 5)
        let overdrawn = try await browser.post("/app/members/S1/redeem", [("_csrf", after.csrf!), ("nonce", "n-redeem-2"), ("reward", "Coffee")])
        #expect(try await Self.balance(server, tenant) == 0)
        let broke = try await browser.post("/app/members/S1/redeem", [("_csrf", after.csrf!), ("nonce", "n-redeem-3"), ("reward", "Coffee")])
        #expect(overdrawn.status == 303 && broke.status == 409 && broke.html.contains("role=\"alert\""), "\(broke.html)")
        for (amount, reason) in [("abc", "a positive number"), ("-5", "a positive number"), ("99999999999999999999", "a positive number"), ("1.234", "a positive number")] {
            let refused = try await browser.post("/app/members/S1/purchase", [("_csrf", after.csrf!), ("amount", amount), ("paymentMethod", "cash")])
            #expect(refused.status == 422 && refused.html.contains(reason), "\(amount)")
        }
        for points in ["0", "x", "-9223372036854775808", "1000000001"] {
            let refused = try await browser.post("/app/members/S1/correct", [("_csrf", after.csrf!), ("nonce", "n-\(points)"), ("points", points), ("reason", "r")])
            #expect(refused.status == 422, "\(points)")
        }
        #expect(try await Self.balance(server, tenant) == 0)

        // Who did it: the ledger's actor and the audit log name the owner.
        let actors = try await server.database.withConnection { connection in
            try connection.query("SELECT actor FROM ledger_entries WHERE tenant_id = ? ORDER BY id", [.text(tenant)]).map { try $0.optionalString("actor") }
        }
        #expect(actors == Array(repeating: "staff:owner@lumen.example", count: 4))
        let activity = try await browser.get("/app/activity")
        #expect(activity.status == 200)
        for action in ["staff.invited", "staff.joined", "purchase.credited", "points.corrected", "reward.redeemed"] { #expect(activity.html.contains(action), "\(action)") }
        #expect(activity.html.components(separatedBy: "purchase.credited").count == 2, "the repeated confirmation is logged once")
        await server.stop()
    }

    @Test("sessions, CSRF, origins and roles: each tenant sees only its own; every forged or unauthorised post changes nothing")
    func securityMatrix() async throws {
        let server = try await LiveServer.start(.sqlite)
        let (a, b) = (server.tenantA.id, server.tenantB.id)
        try await Self.program(server, tenant: a)
        try await server.database.transaction { connection in
            try CardRows.insert(CardRows.NewCard(serialNumber: "A-ONLY", templateID: "tpl-\(a)", memberID: "MA", memberName: "Bea", authenticationToken: "auth-a-only-0123456789",
                                                 publicToken: "pub-a-only", points: 50), tenant: a, now: 1, on: connection)
        }
        let staff = try await Self.servicesOf(server).staff
        var visitors: [String: WebVisitor] = [:]
        for (name, tenant, role) in [("owner-a", a, StaffRole.owner), ("desk-a", a, .frontdesk), ("manager-a", a, .manager), ("owner-b", b, .owner)] {
            let visitor = WebVisitor(server)
            try await visitor.accept(try await staff.invite(tenant: tenant, email: "\(name)@example.com", role: role, by: .operator).link)
            visitors[name] = visitor
        }
        let ownerB = visitors["owner-b"]!, deskA = visitors["desk-a"]!, managerA = visitors["manager-a"]!, ownerA = visitors["owner-a"]!
        // Another tenant's card is not found, by serial, code, token link or search.
        #expect(try await ownerB.get("/app/members/A-ONLY").status == 404)
        #expect(try await ownerB.get("/app/desk/find?code=MA").status == 404)
        #expect(try await ownerB.get("/app/desk/find?code=https%3A%2F%2Fcards.example.com%2Fc%2Fpub-a-only").status == 404)
        #expect(try await ownerA.get("/app/desk/find?code=https%3A%2F%2Fcards.example.com%2Fc%2Fpub-a-only").location == "/app/members/A-ONLY")
        #expect(!(try await ownerB.get("/app/search?q=Bea").html.contains("A-ONLY")))
        let searched = try await ownerA.get("/app/search?q=bea")
        #expect(searched.html.contains("/app/members/A-ONLY"), "\(searched.html)")
        let csrfB = try #require(try await ownerB.get("/app/desk").csrf)
        let forged = try await ownerB.post("/app/members/A-ONLY/correct", [("_csrf", csrfB), ("nonce", "n1"), ("points", "5"), ("reason", "x")])
        #expect(forged.status == 404)

        // Posts without the session's token, with another session's, or from another site.
        let csrfA = try #require(try await deskA.get("/app/desk").csrf)
        for (form, headers) in [([("nonce", "n2"), ("points", "5"), ("reason", "x")], [:]),
                                ([("_csrf", csrfB), ("nonce", "n3"), ("points", "5"), ("reason", "x")], [:]),
                                ([("_csrf", csrfA), ("nonce", "n4"), ("points", "5"), ("reason", "x")], ["Origin": "https://evil.example"])] as [([(String, String)], [String: String])] {
            #expect(try await deskA.post("/app/members/A-ONLY/correct", form, headers: headers).status == 403)
        }
        #expect(try await WebVisitor(server).post("/app/members/A-ONLY/correct", [("_csrf", csrfA), ("nonce", "n5"), ("points", "5"), ("reason", "x")]).status == 303,
                "no session: off to sign in")
        #expect(try await Self.balance(server, a, "A-ONLY") == 50)

        // Roles: the front desk has the desk only; managers also read the activity; owners the staff page.
        let (deskStaff, deskActivity) = (try await deskA.get("/app/staff").status, try await deskA.get("/app/activity").status)
        let (managerActivity, managerStaff) = (try await managerA.get("/app/activity").status, try await managerA.get("/app/staff").status)
        #expect(deskStaff == 403 && deskActivity == 403 && managerActivity == 200 && managerStaff == 403)
        let staffPage = try await ownerA.get("/app/staff")
        #expect(staffPage.status == 200 && staffPage.html.contains("desk-a@example.com") && !staffPage.html.contains("owner-b@example.com"))
        #expect(try await deskA.post("/app/staff", [("_csrf", csrfA), ("email", "x@example.com"), ("role", "owner")]).status == 403, "no promoting oneself")

        // An owner invites, and disables the front desk: its session ends at once.
        let invited = try await ownerA.post("/app/staff", [("_csrf", staffPage.csrf!), ("email", "new@example.com"), ("role", "frontdesk")])
        #expect(invited.status == 200 && invited.html.contains("/app/invite/"))
        #expect(try await ownerA.post("/app/staff", [("_csrf", staffPage.csrf!), ("email", "not an address"), ("role", "frontdesk")]).status == 422)
        let deskID = try #require(try await staff.list(tenant: a).first { $0.email == "desk-a@example.com" }?.id)
        #expect(try await ownerB.post("/app/staff/\(deskID)", [("_csrf", csrfB), ("action", "disable")]).status == 404, "another tenant's staff")
        #expect(try await ownerA.post("/app/staff/\(deskID)", [("_csrf", staffPage.csrf!), ("action", "disable")]).status == 303)
        #expect(try await deskA.get("/app/desk").location?.hasPrefix("/app/login") == true)
        let ownerID = try #require(try await staff.list(tenant: a).first { $0.email == "owner-a@example.com" }?.id)
        let last = try await ownerA.post("/app/staff/\(ownerID)", [("_csrf", staffPage.csrf!), ("action", "role"), ("role", "manager")])
        #expect(last.status == 409 && last.html.contains("last owner"))

        // Signing out ends the session on the server: the old cookie no longer works.
        let cookie = try #require(ownerB.cookies["passline_session"])
        #expect(try await ownerB.post("/app/logout", [("_csrf", csrfB)]).status == 303)
        let replay = WebVisitor(server)
        replay.cookies["passline_session"] = cookie
        #expect(try await replay.get("/app/desk").location?.hasPrefix("/app/login") == true)
        await server.stop()
    }

    @Test("sign-in: cookies are HttpOnly and SameSite; five wrong passwords lock the account; an unknown address reads the same; one address at two businesses chooses")
    func signIn() async throws {
        // The address's limit on a clock that barely refills: however slow the machine, the
        // eleventh attempt below is the first over it.
        let server = try await LiveServer.start(.sqlite) { $0.signInPerSecond = 1e-9 }
        let staff = try await Self.servicesOf(server).staff
        try await WebVisitor(server).accept(try await staff.invite(tenant: server.tenantA.id, email: "anna@example.com", role: .owner, by: .operator).link)
        try await WebVisitor(server).accept(try await staff.invite(tenant: server.tenantB.id, email: "anna@example.com", role: .frontdesk, by: .operator).link)
        let browser = WebVisitor(server)
        let page = try await browser.get("/app/login")
        #expect(page.reply.header("Set-Cookie")?.contains("HttpOnly") == true && page.reply.header("Set-Cookie")?.contains("SameSite=Lax") == true)
        let both = try await browser.post("/app/login", [("_csrf", page.csrf!), ("email", "ANNA@example.com"), ("password", "correct horse battery")])
        #expect(both.status == 200 && both.html.contains("Lumen") && both.html.contains("Harbour") && browser.cookies["passline_session"] == nil, "\(both.status) \(both.html)")
        let chosen = try await browser.post("/app/login", [("_csrf", page.csrf!), ("email", "anna@example.com"), ("password", "correct horse battery"),
                                                           ("tenant", server.tenantB.id), ("next", "//evil.example/")])
        #expect(chosen.status == 303 && chosen.location == "/app/desk", "next never leads off the app")
        #expect(chosen.reply.header("Set-Cookie")?.contains("passline_session=") == true && chosen.reply.header("Set-Cookie")?.contains("HttpOnly") == true)
        #expect(try await browser.get("/app/desk").html.contains("Harbour"))

        let unknown = try await WebVisitor(server).signIn("nobody@example.com")
        let wrong = try await WebVisitor(server).signIn("anna@example.com", password: "wrong password 1")
        #expect(unknown.status == 401 && wrong.status == 401)
        #expect(unknown.html.contains("do not match an account") && wrong.html.contains("do not match an account"))
        for attempt in 2...5 { #expect(try await WebVisitor(server).signIn("anna@example.com", password: "wrong password \(attempt)").status == 401) }
        let locked = try await WebVisitor(server).signIn("anna@example.com")
        #expect(locked.status == 401 && locked.html.contains("locked for 15 more minutes"), "\(locked.html)")
        // No form token, or another's: refused before any password is looked at.
        let visitor = WebVisitor(server)
        _ = try await visitor.get("/app/login")
        #expect(try await visitor.post("/app/login", [("_csrf", "forged-token-0123456789"), ("email", "anna@example.com"), ("password", "x")]).status == 403)
        // The address's sign-ins are limited too (a burst of 10 here, all used above).
        _ = try await WebVisitor(server).signIn("anna@example.com")
        #expect(try await WebVisitor(server).signIn("anna@example.com").status == 429)
        await server.stop()
    }

    @Test("the manager changes the earning rate (the desk's preview follows) and sends a message to a segment, now and later, with its progress",
          arguments: TestDatabase.available)
    func manager(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let tenant = server.tenantA.id
        try await Self.program(server, tenant: tenant)
        let (cards, _, staff) = try await Self.servicesOf(server)
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        let template = try await cards.templates.create(tenant: tenant, name: "loyalty-real", zip: try writer.finish())
        var serials: [String] = []
        for (member, points) in [("L1", 10), ("L2", 100), ("L3", 500)] {
            serials.append(try await cards.create(tenant: tenant, mode: .live, .init(template: template.id, memberID: member, memberName: member, points: Int64(points))).serialNumber)
        }
        let manager = WebVisitor(server)
        try await manager.accept(try await staff.invite(tenant: tenant, email: "manager@example.com", role: .manager, by: .operator).link)

        let program = try await manager.get("/app/program")
        #expect(program.status == 200 && program.html.contains(#"value="cash, card""#) && program.html.contains(#"value="10""#), "\(program.html)")
        let csrf = try #require(program.csrf)
        let wrong = try await manager.post("/app/program", [("_csrf", csrf), ("methods0", "cash"), ("percent0", "ten"), ("currency", "EUR")])
        #expect(wrong.status == 422 && wrong.html.contains("whole number") && wrong.html.contains(#"value="ten""#), "what was typed stays")
        let negative = try await manager.post("/app/program", [("_csrf", csrf), ("methods0", "cash"), ("percent0", "-5"), ("currency", "EUR")])
        #expect(negative.status == 422 && negative.html.contains("percent"), "\(negative.html)")
        let saved = try await manager.post("/app/program", [("_csrf", csrf), ("methods0", "cash, card"), ("percent0", "20"), ("currency", "EUR"),
                                                            ("expiryDays", "180"), ("expiryFrom", "earned"), ("reminders", "28, 7")])
        #expect(saved.status == 303, "\(saved.html)")
        let after = try await manager.get("/app/program")
        #expect(after.html.contains(#"value="20""#) && after.html.contains(#"value="180""#) && after.html.contains("28, 7") && after.html.contains("staff:manager@example.com"))
        // Rewards: added from the program page, offered at the desk at once.
        #expect(try await manager.post("/app/program/rewards", [("_csrf", csrf), ("name", "Facial"), ("cost", "250"), ("limitCount", "1"), ("limitDays", "30")]).status == 303)
        for (cost, reason) in [("lots", "whole number"), ("-5", "cost"), ("99999999999999999999", "whole number")] {
            let refused = try await manager.post("/app/program/rewards", [("_csrf", csrf), ("name", "Bad"), ("cost", cost)])
            #expect(refused.status == 422 && refused.html.contains(reason), "\(cost): \(refused.html.prefix(200))")
        }
        let duplicate = try await manager.post("/app/program/rewards", [("_csrf", csrf), ("name", "Facial"), ("cost", "10")])
        #expect(duplicate.status == 409 || duplicate.status == 422, "\(duplicate.status)")
        #expect(try await manager.get("/app/program").html.contains("1 in 30 days"))
        let member = try await manager.get("/app/members/S1")
        #expect(member.html.contains("Facial — 250 points"))
        let preview = try await manager.post("/app/members/S1/purchase", [("_csrf", member.csrf!), ("amount", "120"), ("paymentMethod", "cash")])
        #expect(preview.html.contains(#"<strong id="points-preview">24</strong>"#), "the new rate: 20% of 120")

        // A message to the members with at least 100 points: two of the three cards.
        let page = try await manager.get("/app/messages")
        #expect(page.status == 200 && page.html.contains("loyalty-real"))
        let sent = try await manager.post("/app/messages", [("_csrf", csrf), ("template", template.id), ("message", "Double points this week"), ("minBalance", "100")])
        #expect(sent.status == 303 && sent.location?.hasPrefix("/app/messages/cmp_") == true, "\(sent.html)")
        var progress = try await manager.get(sent.location!)
        for _ in 0..<100 where !progress.html.contains("Sent") {
            try await Task.sleep(for: .milliseconds(100))
            progress = try await manager.get(sent.location!)
        }
        #expect(progress.html.contains("Sent") && progress.html.contains(#"<span id="campaign-done">2</span> of <span id="campaign-total">2</span>"#), "\(progress.html)")
        #expect(progress.html.contains("balance at least 100"))
        let messages = try await server.database.withConnection { connection in
            try connection.query("SELECT serial_number, fields FROM cards WHERE tenant_id = ? AND template_id = ? ORDER BY member_id", [.text(tenant), .text(template.id)])
                .map { try $0.string("fields").contains("Double points") }
        }
        #expect(messages == [false, true, true])

        // Later: planned, its cards chosen only when its time comes.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm"
        let later = formatter.string(from: Date().addingTimeInterval(30 * 86_400))
        let planned = try await manager.post("/app/messages", [("_csrf", csrf), ("template", template.id), ("message", "See you soon"), ("noVisitForDays", "30"),
                                                               ("sendAt", later)])
        let plannedPage = try await manager.get(try #require(planned.location, "\(planned.html)"))
        #expect(plannedPage.html.contains("Planned") && plannedPage.html.contains(later.replacingOccurrences(of: "T", with: " ") + " UTC")
                && plannedPage.html.contains("no visit for 30 days"), "\(plannedPage.html)")
        // When its time comes (a day past it, here), its job chooses the cards as they are then.
        let plannedID = String(planned.location!.split(separator: "/").last!)
        let chosen = try await server.database.transaction { connection -> Campaign? in
            _ = try Campaigns.step(campaign: plannedID, limit: 100, now: Int64(Date().timeIntervalSince1970 * 1000) + 31 * 86_400_000, on: connection)
            return try Campaigns.get(tenant: tenant, id: plannedID, on: connection)
        }
        #expect(chosen?.cardsChosen == true && chosen?.total == 3, "no visit for 30 days, a month on: all three")
        // A time already past sends now, and the list says when it really began.
        let past = try await manager.post("/app/messages", [("_csrf", csrf), ("template", template.id), ("message", "Late"), ("sendAt", "1900-01-01T00:00")])
        let listed = try await manager.get("/app/messages")
        #expect(past.status == 303 && !listed.html.contains("1900-01-01"))
        let tooLate = formatter.string(from: Date().addingTimeInterval(400 * 86_400))
        for (field, value, reason) in [("minBalance", "-1", "whole number"), ("sendAt", "tomorrow", "date and time"), ("expiringWithinDays", "99999", "3,650"),
                                       ("sendAt", tooLate, "within a year")] {
            let refused = try await manager.post("/app/messages", [("_csrf", csrf), ("template", template.id), ("message", "x"), (field, value)])
            #expect(refused.status == 422 && refused.html.contains(reason), "\(field)=\(value): \(refused.html)")
        }
        let frontDesk = WebVisitor(server)
        try await frontDesk.accept(try await staff.invite(tenant: tenant, email: "desk@example.com", role: .frontdesk, by: .operator).link)
        let (deskProgram, deskMessages) = (try await frontDesk.get("/app/program").status, try await frontDesk.get("/app/messages").status)
        #expect(deskProgram == 403 && deskMessages == 403)
        let activity = try await manager.get("/app/activity")
        #expect(activity.html.contains("program.changed") && activity.html.contains("message.sent") && activity.html.contains("reward.created"))
        await server.stop()
    }

    @Test("reports: points, active members, installs and pushes per week, drawn as SVG with their figures, each as CSV", arguments: TestDatabase.available)
    func reports(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let tenant = server.tenantA.id
        let services = server.services
        for points in [30, -10] {
            _ = try await services.cards.transact(.init(serial: "S1", points: Int64(points), reason: "visit"), tenant: tenant, mode: .live, jobs: services.jobs) { _ in [] }
        }
        let card = try await services.cards.get(tenant: tenant, mode: .live, serial: "S1")
        _ = try await services.devices.register(device: "phone-1", pushToken: "0a0b", for: card, passType: "pass.dev.reports")
        let manager = WebVisitor(server)
        try await manager.accept(try await services.staff.invite(tenant: tenant, email: "m@example.com", role: .manager, by: .operator).link)
        let page = try await manager.get("/app/reports")
        #expect(page.status == 200 && page.html.components(separatedBy: #"role="img""#).count == 5, "four charts")
        #expect(page.html.contains("<svg") && page.html.contains("issued, week of") && page.html.components(separatedBy: "<script").count == 2, "one script, the app's own file")
        let thisWeek = String(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(Weeks.start(of: Int64(Date().timeIntervalSince1970 * 1000))) / 1000)).prefix(10))
        func csv(_ name: String) async throws -> [String] {
            let reply = try await manager.get("/app/reports/\(name).csv")
            #expect(reply.status == 200 && reply.reply.header("Content-Type")?.hasPrefix("text/csv") == true, "\(name)")
            #expect(reply.reply.header("Content-Disposition")?.contains("attachment") == true)
            return reply.html.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        }
        let points = try await csv("points")
        #expect(points.first == "week,issued,redeemed,expired" && points.count == 13)
        #expect(points.last == "\(thisWeek),30,10,0", "\(points)")
        #expect(try await csv("members").last == "\(thisWeek),1")
        #expect(try await csv("wallets").last == "\(thisWeek),1,0,0,0")
        #expect(try await manager.get("/app/reports/nothing.csv").status == 404)
        // Another tenant's figures are its own: nothing of tenant A's.
        let other = WebVisitor(server)
        try await other.accept(try await services.staff.invite(tenant: server.tenantB.id, email: "m@example.com", role: .manager, by: .operator).link)
        #expect(try await other.get("/app/reports/points.csv").html.hasSuffix("\(thisWeek),0,0,0\r\n"))
        await server.stop()
    }

    @Test("members: the list pages and searches; members and ledger export as CSV (formulas defused), the tenant's own only; the front desk cannot",
          arguments: TestDatabase.available)
    func members(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let (a, b) = (server.tenantA.id, server.tenantB.id)
        try await server.database.transaction { connection in
            for index in 0..<60 {
                try CardRows.insert(CardRows.NewCard(serialNumber: String(format: "A%03d", index), templateID: "tpl-\(a)", memberID: "MA\(index)",
                                                     memberName: index == 7 ? "=HYPERLINK(\"http://evil\")" : "Bea \(index)",
                                                     authenticationToken: "auth-a-\(index)-0123456789", publicToken: "pub-a-\(index)", points: Int64(index)),
                                    tenant: a, now: 1, on: connection)
            }
        }
        _ = try await server.services.cards.transact(.init(serial: "A001", points: 5, reason: "visit, with a comma"), tenant: a, mode: .live, jobs: server.services.jobs) { _ in [] }
        let manager = WebVisitor(server)
        try await manager.accept(try await server.services.staff.invite(tenant: a, email: "m@example.com", role: .manager, by: .operator).link)
        // A member's whole ledger, a page at a time, and their other cards.
        for index in 0..<10 {
            _ = try await server.services.cards.transact(.init(serial: "A002", points: 1, reason: "visit \(index)"), tenant: a, mode: .live, jobs: server.services.jobs) { _ in [] }
        }
        try await server.database.transaction { connection in
            try CardRows.insert(CardRows.NewCard(serialNumber: "A002-B", templateID: "tpl-\(a)", memberID: "MA2", memberName: "Bea 2",
                                                 authenticationToken: "auth-a-2b-0123456789", publicToken: "pub-a-2b", points: 3), tenant: a, now: 1, on: connection)
        }
        let ledgerPage = try await manager.get("/app/members/A002")
        #expect(ledgerPage.html.contains("visit 9") && !ledgerPage.html.contains("opening balance") && ledgerPage.html.contains("Older entries"))
        #expect(ledgerPage.html.contains("/app/members/A002-B") && ledgerPage.html.contains("other cards"))
        let older = try #require(ledgerPage.html.range(of: "/app/members/A002?before=").map { "/app/members/A002?before=" + ledgerPage.html[$0.upperBound...].prefix { $0.isNumber } })
        let olderPage = try await manager.get(older)
        #expect(olderPage.html.contains("opening balance") && olderPage.html.contains("visit 0") && !olderPage.html.contains("visit 9"))
        let first = try await manager.get("/app/members")
        #expect(first.status == 200 && first.html.contains("1–50 of 62 members") && first.html.contains("/app/members?page=1"), "\(first.html.prefix(3000))")
        let second = try await manager.get("/app/members?page=1")
        #expect(second.html.contains("51–62 of 62 members") && !second.html.contains("page=2"))
        #expect(try await manager.get("/app/members?page=99999999999").status == 200, "a page past the end is empty, not an error")
        #expect(try await manager.get("/app/members?q=bea%2059").html.contains("/app/members/A059"))

        let members = try await manager.get("/app/members/export.csv")
        #expect(members.status == 200 && members.reply.header("Content-Type")?.hasPrefix("text/csv") == true)
        let lines = members.html.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.count == 63 && lines[0].hasPrefix("serialNumber,memberId,memberName,points"))
        #expect(lines.contains { $0.hasPrefix("A007,MA7,\"'=HYPERLINK(\"\"http://evil\"\")\",7,") }, "a formula is defused and quoted: \(lines.filter { $0.hasPrefix("A007") })")
        let ledger = try await manager.get("/app/ledger/export.csv")
        let entries = ledger.html.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        // 59 opening balances (the card with none has no entry), then the visit, oldest first.
        #expect(entries.count == 72 && entries[1].hasPrefix("1,1970-01-01T00:00:00.001Z,A001,MA1,adjust,1,1,,opening balance,"), "\(entries.prefix(3))")
        #expect(entries.contains { $0.contains(",A001,MA1,earn,5,6,,\"visit, with a comma\",") }, "\(entries.suffix(2))")

        let other = WebVisitor(server)
        try await other.accept(try await server.services.staff.invite(tenant: b, email: "m@example.com", role: .manager, by: .operator).link)
        let theirs = try await other.get("/app/members/export.csv")
        #expect(!theirs.html.contains("Bea") && theirs.html.components(separatedBy: "\r\n").filter { !$0.isEmpty }.count == 2)
        let desk = WebVisitor(server)
        try await desk.accept(try await server.services.staff.invite(tenant: a, email: "d@example.com", role: .frontdesk, by: .operator).link)
        let (deskList, deskExport) = (try await desk.get("/app/members").status, try await desk.get("/app/members/export.csv").status)
        #expect(deskList == 403 && deskExport == 403)
        #expect(try await manager.get("/app/activity").html.contains("members.exported"))
        await server.stop()
    }

    @Test("importing members: the check lists every bad row and stores nothing; the import issues each good row's card once, with progress and the links at the end",
          arguments: TestDatabase.available)
    func importMembers(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let tenant = server.tenantA.id
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        let template = try await server.services.cards.templates.create(tenant: tenant, name: "loyalty-real", zip: try writer.finish())
        let manager = WebVisitor(server)
        try await manager.accept(try await server.services.staff.invite(tenant: tenant, email: "m@example.com", role: .manager, by: .operator).link)
        let form = try await manager.get("/app/members/import")
        #expect(form.status == 200 && form.html.contains("multipart/form-data"))
        let csrf = try #require(form.csrf)
        func upload(_ csv: String, token: String? = nil) async throws -> WebVisitor.Page {
            try await manager.upload("/app/members/import", [("_csrf", token ?? csrf), ("template", template.id)],
                                     file: ("file", "members.csv", "text/csv", Array(csv.utf8)))
        }
        let csv = "memberId,name,points,tier\r\nP-1,Zoë,120,Gold\r\nP-2,\"Sam, Jr.\",0,\r\n,Nobody,5,\r\nP-3,Ada,lots,\r\nP-4,Bo,7,\r\n"
        #expect(try await upload(csv, token: "forged").status == 403)
        let checked = try await upload(csv)
        #expect(checked.status == 200 && checked.html.contains(#"<strong id="import-good">3</strong>"#) && checked.html.contains(#"<strong id="import-bad">2</strong>"#), "\(checked.html)")
        #expect(checked.html.contains("<td class=\"num\">4</td><td>the member id is empty</td>") && checked.html.contains("points must be a whole number"))
        func count() async throws -> Int64 {
            try await server.database.withConnection { try $0.first("SELECT COUNT(*) AS n FROM cards WHERE tenant_id = ? AND template_id = ?", [.text(tenant), .text(template.id)])!.int("n") }
        }
        #expect(try await count() == 0, "a check stores no card")
        let importID = try #require(checked.html.range(of: "/app/imports/").map { String(checked.html[$0.upperBound...].prefix { $0 != "/" }) })

        let other = WebVisitor(server)
        try await other.accept(try await server.services.staff.invite(tenant: server.tenantB.id, email: "o@example.com", role: .owner, by: .operator).link)
        let otherCSRF = try #require(try await other.get("/app/desk").csrf)
        #expect(try await other.post("/app/imports/\(importID)/start", [("_csrf", otherCSRF)]).status == 404, "another tenant's import")
        #expect(try await other.get("/app/imports/\(importID)").status == 404)

        let started = try await manager.post("/app/imports/\(importID)/start", [("_csrf", csrf)])
        #expect(started.status == 303 && started.location == "/app/imports/\(importID)")
        #expect(try await manager.post("/app/imports/\(importID)/start", [("_csrf", csrf)]).status == 303, "sent twice, it runs once")
        var progress = try await manager.get("/app/imports/\(importID)")
        for _ in 0..<200 where !progress.html.contains("Finished") {
            try await Task.sleep(for: .milliseconds(100))
            progress = try await manager.get("/app/imports/\(importID)")
        }
        #expect(progress.html.contains("Finished") && progress.html.contains(#"<span id="import-issued">3</span> cards issued"#), "\(progress.html)")
        #expect(try await count() == 3)
        let issued = try await manager.get("/app/imports/\(importID)/cards.csv")
        let lines = issued.html.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.count == 4 && lines[1].hasPrefix("2,P-1,Zoë,120,") && lines[1].contains("https://cards.example.com/c/"), "\(lines)")
        #expect(lines[2].hasPrefix("3,P-2,\"Sam, Jr.\",0,"))
        let tier = try await server.database.withConnection { try $0.first("SELECT fields FROM cards WHERE tenant_id = ? AND member_id = 'P-1'", [.text(tenant)])!.string("fields") }
        #expect(tier.contains("Gold"))
        // The same file again: every member has a card now.
        let again = try await upload(csv)
        #expect(again.html.contains(#"<strong id="import-good">0</strong>"#) && again.html.contains("has a card already"))
        #expect(try await manager.get("/app/activity").html.contains("members.imported"))
        await server.stop()
    }

    @Test("owners manage API keys (shown once, revoked at once) and webhook endpoints (secret shown once, events chosen, disabled, rotated, deleted)")
    func developers() async throws {
        let server = try await LiveServer.start(.sqlite)
        let owner = WebVisitor(server)
        try await owner.accept(try await server.services.staff.invite(tenant: server.tenantA.id, email: "o@example.com", role: .owner, by: .operator).link)
        let page = try await owner.get("/app/developers")
        #expect(page.status == 200 && page.html.contains("pl_live_") && page.html.contains("pl_test_"), "the tenant's two keys, by prefix")
        let csrf = try #require(page.csrf)
        let made = try await owner.post("/app/developers/keys", [("_csrf", csrf), ("mode", "live")])
        let key = try #require(made.html.range(of: #"id="shown-secret""#).flatMap { _ in made.html.range(of: #"value="pl_live_"#) }.map { "pl_live_" + made.html[$0.upperBound...].prefix { $0 != "\"" } })
        #expect(try await server.send("GET", "/api/v1/tenant", headers: ["Authorization": "Bearer \(key)"]).status == 200)
        #expect(!(try await owner.get("/app/developers").html.contains(key)), "shown once only")
        #expect(try await owner.post("/app/developers/keys/revoke", [("_csrf", csrf), ("prefix", String(key.prefix(12)))]).status == 303)
        #expect(try await server.send("GET", "/api/v1/tenant", headers: ["Authorization": "Bearer \(key)"]).status == 401)
        #expect(try await owner.post("/app/developers/keys/revoke", [("_csrf", csrf), ("prefix", "pl_live_zzzz")]).status == 404)

        let added = try await owner.post("/app/developers/webhooks", [("_csrf", csrf), ("url", "http://127.0.0.1:9/hook"), ("event", "card.created"), ("event", "transaction.created")])
        #expect(added.status == 200 && added.html.contains("whsec_"), "\(added.html.prefix(2000))")
        let endpoints = try await server.services.webhooks.list(tenant: server.tenantA.id, mode: .live)
        #expect(endpoints.count == 1 && endpoints[0].events == ["card.created", "transaction.created"])
        let id = endpoints[0].id
        #expect(try await owner.post("/app/developers/webhooks", [("_csrf", csrf), ("url", "ftp://example.com"), ("event", "card.created")]).status == 422)
        #expect(try await owner.post("/app/developers/webhooks/\(id)", [("_csrf", csrf), ("action", "disable")]).status == 303)
        #expect(try await server.services.webhooks.list(tenant: server.tenantA.id, mode: .live)[0].disabledAt != nil)
        let rotated = try await owner.post("/app/developers/webhooks/\(id)", [("_csrf", csrf), ("action", "rotate")])
        #expect(rotated.status == 200 && rotated.html.contains("whsec_") && rotated.html.contains("24 hours"))
        let stranger = WebVisitor(server)
        try await stranger.accept(try await server.services.staff.invite(tenant: server.tenantB.id, email: "s@example.com", role: .owner, by: .operator).link)
        let strangerCSRF = try #require(try await stranger.get("/app/developers").csrf)
        #expect(try await stranger.post("/app/developers/webhooks/\(id)", [("_csrf", strangerCSRF), ("action", "delete")]).status == 404)
        #expect(try await owner.post("/app/developers/webhooks/\(id)", [("_csrf", csrf), ("action", "delete")]).status == 303)
        #expect(try await server.services.webhooks.list(tenant: server.tenantA.id, mode: .live).isEmpty)
        let manager = WebVisitor(server)
        try await manager.accept(try await server.services.staff.invite(tenant: server.tenantA.id, email: "m@example.com", role: .manager, by: .operator).link)
        #expect(try await manager.get("/app/developers").status == 403)
        let activity = try await owner.get("/app/activity")
        for action in ["key.created", "key.revoked", "webhook.created", "webhook.rotated", "webhook.delete"] { #expect(activity.html.contains(action), "\(action)") }
        await server.stop()
    }

    @Test("camera frames: the card whose code a frame shows; nothing yet; another business's code named; bad sizes and missing tokens refused")
    func cameraFrames() async throws {
        let server = try await LiveServer.start(.sqlite)
        let staff = try await Self.servicesOf(server).staff
        let browser = WebVisitor(server)
        try await browser.accept(try await staff.invite(tenant: server.tenantA.id, email: "desk@example.com", role: .frontdesk, by: .operator).link)
        let desk = try await browser.get("/app/desk")
        let token = try #require(desk.html.range(of: #"data-csrf=""#).map { String(desk.html[$0.upperBound...].prefix { $0 != "\"" }) })
        func scan(_ frame: [UInt8], width: Int = 640, height: Int = 480, csrf: String? = nil) async throws -> (Int, [String: Any]) {
            let reply = try await server.send("POST", "/app/desk/scan?width=\(width)&height=\(height)", bodyData: Data(frame),
                                              headers: ["Cookie": "passline_session=\(browser.cookies["passline_session"]!)", "X-CSRF-Token": csrf ?? token,
                                                        "Content-Type": "application/octet-stream"])
            return (reply.status, reply.json ?? [:])
        }
        let (status, answer) = try await scan(try CameraFrames.grey("M1"))
        #expect(status == 200 && answer["location"] as? String == "/app/members/S1", "\(answer)")
        let link = try await scan(try CameraFrames.grey("https://cards.example.com/c/pub-\(server.tenantA.id)"))
        #expect(link.1["location"] as? String == "/app/members/S1", "the card page's link works too")
        #expect(try await scan([UInt8](repeating: 128, count: 640 * 480)).1["codes"] as? [String] == [])
        let foreign = try await scan(try CameraFrames.grey("https://cards.example.com/c/pub-\(server.tenantB.id)"))
        #expect((foreign.1["error"] as? String)?.contains("No card of this business") == true, "another tenant's card is not found")
        #expect(try await scan([UInt8](repeating: 0, count: 100), width: 640, height: 480).0 == 400)
        #expect(try await scan([UInt8](repeating: 0, count: 4), width: -2, height: -2).0 == 400)
        #expect(try await scan(try CameraFrames.grey("M1"), csrf: "forged").0 == 403)
        let signedOut = try await server.send("POST", "/app/desk/scan?width=2&height=2", bodyData: Data([0, 0, 0, 0]), headers: ["X-CSRF-Token": token])
        #expect(signedOut.status == 401)
        await server.stop()
    }

    @Test("invitations: the operator's over the admin API, bad addresses and roles named, short or differing passwords refused, replaced links dead")
    func invitations() async throws {
        let server = try await LiveServer.start(.sqlite, adminToken: "admin-secret-0123456789")
        let admin = ["Authorization": "Bearer admin-secret-0123456789", "Content-Type": "application/json"]
        let path = "/admin/v1/tenants/\(server.tenantA.id)/invitations"
        let created = try await server.send("POST", path, body: #"{"email":"boss@lumen.example","role":"owner"}"#, headers: admin)
        #expect(created.status == 201 && (created.json?["link"] as? String)?.contains("/app/invite/") == true)
        let bad = try await server.send("POST", path, body: #"{"email":"boss","role":"king","name":7}"#, headers: admin)
        #expect(bad.status == 422)
        #expect(Set(((bad.json?["errors"] as? [[String: Any]]) ?? []).compactMap { $0["field"] as? String }) == ["name", "role"], "\(String(decoding: bad.body, as: UTF8.self))")
        let badEmail = try await server.send("POST", path, body: #"{"email":"bo ss@lumen","role":"owner"}"#, headers: admin)
        #expect(badEmail.status == 422 && String(decoding: badEmail.body, as: UTF8.self).contains("e-mail address"))
        #expect(try await server.send("POST", "/admin/v1/tenants/tn_nobody/invitations", body: #"{"email":"a@b.example","role":"owner"}"#, headers: admin).status == 404)
        #expect(try await server.send("POST", path, body: #"{"email":"a@b.example","role":"owner"}"#, headers: ["Content-Type": "application/json"]).status == 401)

        // A second invitation replaces the first link.
        let first = try #require(created.json?["link"] as? String)
        let again = try await server.send("POST", path, body: #"{"email":"boss@lumen.example","role":"manager"}"#, headers: admin)
        let second = try #require(again.json?["link"] as? String)
        #expect(try await WebVisitor(server).get(String(first[first.range(of: "/app/")!.lowerBound...])).status == 404)
        let browser = WebVisitor(server)
        let path2 = String(second[second.range(of: "/app/")!.lowerBound...])
        let page = try await browser.get(path2)
        #expect(page.html.contains("Manager") && page.html.contains("boss@lumen.example"))
        let short = try await browser.post(path2, [("_csrf", page.csrf!), ("password", "short"), ("confirm", "short")])
        #expect(short.status == 422 && short.html.contains("at least 10 characters"))
        let differ = try await browser.post(path2, [("_csrf", page.csrf!), ("password", "long enough 1"), ("confirm", "long enough 2")])
        #expect(differ.status == 422 && differ.html.contains("differ"))
        #expect(try await browser.post(path2, [("_csrf", page.csrf!), ("password", "long enough 1"), ("confirm", "long enough 1")]).status == 303)
        let taken = try await server.send("POST", path, body: #"{"email":"boss@lumen.example","role":"owner"}"#, headers: admin)
        #expect(taken.status == 409, "an address with an account is not invited again")
        #expect(try await WebVisitor(server).get("/app/invite/..%2F..%2Fetc").status == 404)
        #expect(try await WebVisitor(server).get("/app/static/app.css").reply.header("Cache-Control")?.contains("immutable") == true)
        #expect(try await WebVisitor(server).get("/app/static/..%2Fopenapi.json").status == 404)
        await server.stop()
    }
}
