import Foundation
import Hummingbird
import LoyaltyRules
import PasslineCrypto
import PasslineService

/// What the web app needs of a request's context besides the request: where it came from,
/// for the sign-in limit per address.
public protocol WebRequestContext: RequestContext {
    var remoteIP: String? { get }
}

/// The staff's web app under `/app`: sign-in and invitations, the front desk (scan, credit,
/// redeem, correct), the staff and activity pages. Pages are rendered on the server; every
/// action is one form post, checked for its session, its role and its CSRF token, and recorded
/// in the audit log with who did it.
public struct WebApp<Context: WebRequestContext>: Sendable {
    public struct Dependencies: Sendable {
        public let staff: StaffAccounts
        public let cards: Cards
        public let purchases: PointsPurchases
        public let rewards: RewardCatalogue
        public let jobs: WorkQueue
        public let campaigns: CardCampaigns
        public let reports: ProgramReports
        public let imports: MemberImports
        public let tenants: Tenants
        public let webhooks: Webhooks
        public let branding: TenantBranding
        public init(staff: StaffAccounts, cards: Cards, purchases: PointsPurchases, rewards: RewardCatalogue, jobs: WorkQueue, campaigns: CardCampaigns,
                    reports: ProgramReports, imports: MemberImports, tenants: Tenants, webhooks: Webhooks, branding: TenantBranding) {
            self.staff = staff; self.cards = cards; self.purchases = purchases; self.rewards = rewards; self.jobs = jobs; self.campaigns = campaigns
            self.reports = reports; self.imports = imports; self.tenants = tenants; self.webhooks = webhooks; self.branding = branding
        }
    }

    let services: Dependencies
    let pages: Pages
    /// Secure cookies when the app is reached over https.
    let secureCookies: Bool
    /// Seconds a sign-in from this address must wait; nil when it may go ahead.
    let signInLimit: @Sendable (String) -> Int?
    /// The business's real cards: the app works in live mode.
    let mode = CardMode.live

    static var sessionCookie: String { "passline_session" }
    static var formCookie: String { "passline_form" }

    public init(_ services: Dependencies, secureCookies: Bool, signInLimit: @escaping @Sendable (String) -> Int?) {
        self.services = services
        self.pages = Pages.shared
        self.secureCookies = secureCookies
        self.signInLimit = signInLimit
    }

    public func addRoutes(to router: Router<Context>) {
        let app = router.group("app")
        app.get { _, _ in Pages.redirect("/app/desk") }
        app.get("static/:file") { _, context in
            guard let response = self.pages.asset(try context.parameters.require("file")) else { throw HTTPError(.notFound) }
            return response
        }
        app.get("login", use: loginPage)
        app.post("login", use: login)
        app.post("logout", use: logout)
        app.get("invite/:token", use: invitePage)
        app.post("invite/:token", use: acceptInvite)
        app.get("desk", use: desk)
        app.get("desk/find", use: find)
        app.post("desk/scan", use: scanFrame)
        app.get("search", use: search)
        app.get("members", use: membersPage)
        app.get("members/export.csv", use: exportMembers)
        app.get("members/import", use: importPage)
        app.post("members/import", use: checkImport)
        app.post("imports/:id/start", use: startImport)
        app.get("imports/:id", use: importProgress)
        app.get("imports/:id/cards.csv", use: importedCards)
        app.get("ledger/export.csv", use: exportLedger)
        app.get("members/:serial", use: member)
        app.post("members/:serial/purchase", use: purchase)
        app.post("members/:serial/redeem", use: redeem)
        app.post("members/:serial/correct", use: correct)
        app.get("staff", use: staffPage)
        app.post("staff", use: invite)
        app.post("staff/:id", use: changeStaff)
        app.get("activity", use: activity)
        app.get("developers", use: developersPage)
        app.post("developers/keys", use: makeKey)
        app.post("developers/keys/revoke", use: revokeKey)
        app.post("developers/webhooks", use: addEndpoint)
        app.post("developers/webhooks/:id", use: changeEndpoint)
        app.get("program", use: programPage)
        app.post("program", use: saveProgram)
        app.post("program/rewards", use: addReward)
        app.get("messages", use: messagesPage)
        app.post("messages", use: sendMessage)
        app.get("messages/:id", use: campaignPage)
        app.get("reports", use: reportsPage)
        app.get("reports/:name", use: reportCSV)
        app.get("templates", use: templatesPage)
        app.post("templates", use: uploadTemplate)
        app.post("templates/:id/default", use: chooseDefaultTemplate)
        app.get("templates/:id/preview", use: templatePreview)
        app.post("branding", use: saveColors)
        app.post("branding/logo", use: saveLogo)
        app.get("brand.css", use: brandStylesheet)
        app.get("brand/logo.png", use: brandLogo)
    }

    // MARK: Sessions, roles, forms

    /// A signed-in request: the session, and the values every page's frame shows.
    struct Visit {
        let session: StaffAccounts.Session
        /// The business's colours and logo, for the page's header.
        let look: TenantBranding.Look
        var actor: StaffAccounts.Actor { .init(session) }
        var tenant: String { session.tenant }

        func frame(_ page: String) -> [String: Any] {
            let role = session.staff.role
            var values: [String: Any] = ["signedIn": true, "tenantName": session.tenantName, "csrf": session.csrfToken, "staffEmail": session.staff.email,
                                         "canManage": role.allows(.program), "canStaff": role.allows(.staff), "at\(page)": true]
            if look.isChosen { values["brandVersion"] = look.version }
            if look.hasLogo { values["hasBrandLogo"] = true }
            return values
        }
    }

    /// Why a request is not served as asked: a sign-in first, or a page that says no.
    enum Refusal: Error {
        case signIn(next: String)
        case page(HTTPResponse.Status, heading: String, text: String)
    }

    /// The request's session with at least `permission`.
    func visit(_ request: Request, _ permission: StaffRole.Permission) async throws -> Visit {
        guard let cookie = Cookies.value(Self.sessionCookie, in: request.headers[.cookie]),
              let session = try await services.staff.session(cookie: cookie) else {
            throw Refusal.signIn(next: request.method == .get ? request.uri.path : "/app/desk")
        }
        guard session.staff.role.allows(permission) else {
            throw Refusal.page(.forbidden, heading: "Not for your role", text: "This page is for \(permission == .staff ? "owners" : "managers and owners"); ask one of them.")
        }
        return Visit(session: session, look: try await services.branding.look(tenant: session.tenant))
    }

    /// A form post's fields, once its origin and CSRF token are checked against the session's.
    func form(_ request: Request, csrf expected: String) async throws -> WebForm {
        try Self.sameOrigin(request)
        let body = try await request.body.collect(upTo: WebForm.maxBytes)
        guard let form = WebForm(encoded: Substring(String(buffer: body))) else {
            throw Refusal.page(.badRequest, heading: "Not a form", text: "The request body is not a form the app sent.")
        }
        guard let token = form["_csrf"], ConstantTime.equal(Array(token.utf8), Array(expected.utf8)) else {
            throw Refusal.page(.forbidden, heading: "Form expired", text: "This form is from an earlier visit or another session; go back, reload the page and send it again.")
        }
        return form
    }

    /// A browser names the page a post comes from; another site's page is refused even before
    /// the token is looked at.
    static func sameOrigin(_ request: Request) throws {
        if let origin = request.headers[.origin], origin != "null", let authority = request.head.authority,
           origin.components(separatedBy: "://").last?.lowercased() != authority.lowercased() {
            throw Refusal.page(.forbidden, heading: "Refused", text: "This form was sent from another site (\(origin)).")
        }
    }

    /// A file upload's parts, once its origin and CSRF token are checked against the session's.
    func upload(_ request: Request, csrf expected: String, limit: Int) async throws -> MultipartForm {
        try Self.sameOrigin(request)
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: limit + 64 * 1024) } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw Refusal.page(.contentTooLarge, heading: "File too large", text: "This form takes files of at most \(limit / 1024) KB; go back and choose a smaller one.")
        }
        guard let form = MultipartForm(body: Array(buffer: body), contentType: request.headers[.contentType] ?? "") else {
            throw Refusal.page(.badRequest, heading: "Not a form", text: "The upload is not the form the app sent.")
        }
        guard let token = form.fields["_csrf"], ConstantTime.equal(Array(token.utf8), Array(expected.utf8)) else {
            throw Refusal.page(.forbidden, heading: "Form expired", text: "This form is from an earlier visit or another session; reload the page and send it again.")
        }
        return form
    }

    /// Runs a page's handler, turning refusals into pages and redirects.
    func serve(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let refusal as Refusal {
            switch refusal {
            case .signIn(let next):
                return Pages.redirect("/app/login?next=" + (next.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(["/", "-", "_"])) ?? ""))
            case .page(let status, let heading, let text):
                return pages.render("message", ["heading": heading, "text": text, "link": "/app/desk", "linkText": "Back to the front desk"], status: status)
            }
        }
    }

    func message(_ visit: Visit?, _ status: HTTPResponse.Status, heading: String, text: String) -> Response {
        var values = visit?.frame("") ?? [:]
        values["heading"] = heading
        values["text"] = text
        values["link"] = "/app/desk"
        values["linkText"] = "Back to the front desk"
        return pages.render("message", values, status: status)
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Today's date (UTC), for a download's file name.
    static var today: String { String(when(now()).prefix(10)) }

    /// What a refused change says on the page: each field at fault, or the whole message.
    static func detail(_ error: DomainError) -> String {
        error.faults.isEmpty ? error.message : error.faults.map { "\($0.field) \($0.message)." }.joined(separator: " ")
    }

    /// "2026-12-07 14:03 UTC": a minute is as fine as the app shows time.
    static func when(_ milliseconds: Int64) -> String {
        let text = Timestamp.format(milliseconds)
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(5)) + " UTC"
    }
}
