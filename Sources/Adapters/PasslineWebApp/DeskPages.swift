import Foundation
import Hummingbird
import LoyaltyRules
import PasslineBarcodeReader
import PasslineCrypto
import PasslineJSON
import PasslineService

/// The front desk: find the member (a scan, a typed code, a search), then credit a purchase,
/// redeem a reward or correct the balance. Each action is one post; its result shows on the
/// member's page at once, and the wallet update leaves through the usual push path.
extension WebApp {
    @Sendable func desk(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .desk)
            return pages.render("desk", visit.frame("Desk"))
        }
    }

    @Sendable func find(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .desk)
            let code = request.uri.queryParameters.get("code") ?? ""
            let found = try await services.cards.find(tenant: visit.tenant, mode: mode, code: code)
            if found.count == 1 { return Pages.redirect("/app/members/\(Self.path(found[0].serialNumber))") }
            var values = visit.frame("Desk")
            values["code"] = code
            if found.isEmpty {
                values["error"] = "No card of this business has the code \(code.prefix(80)). Scan again, or search by name."
                return pages.render("desk", values, status: .notFound)
            }
            values.merge(results(found)) { $1 }
            return pages.render("desk", values)
        }
    }

    /// A camera frame (8-bit grey, `width` × `height`) from the desk page's script: the card it
    /// shows, as JSON `{"location"}`; `{"codes": []}` when no code is in it yet; `{"error"}`
    /// when a code is read but no card of the business has it.
    @Sendable func scanFrame(_ request: Request, context: Context) async throws -> Response {
        do {
            let visit = try await visit(request, .desk)
            guard let token = request.headers[.init("X-CSRF-Token")!], ConstantTime.equal(Array(token.utf8), Array(visit.session.csrfToken.utf8)) else {
                return Self.json(.forbidden, ["error": .string("This page is from an earlier session; reload it.")])
            }
            let width = request.uri.queryParameters.get("width").flatMap { Int($0) } ?? 0
            let height = request.uri.queryParameters.get("height").flatMap { Int($0) } ?? 0
            let body = try await request.body.collect(upTo: BarcodeReader.maxPixels)
            let codes: [String]
            do { codes = try await BarcodeReader.decodeOffLoop(gray: Array(buffer: body), width: width, height: height) } catch let error as BarcodeReader.Error {
                return Self.json(.badRequest, ["error": .string(error.description)])
            }
            for code in codes {
                let found = try await services.cards.find(tenant: visit.tenant, mode: mode, code: code)
                if found.count == 1 { return Self.json(.ok, ["location": .string("/app/members/\(Self.path(found[0].serialNumber))")]) }
                if found.count > 1 {
                    return Self.json(.ok, ["location": .string("/app/desk/find?code=" + (code.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))])
                }
            }
            if let code = codes.first { return Self.json(.ok, ["error": .string("No card of this business has the code \(code.prefix(80)).")]) }
            return Self.json(.ok, ["codes": .array([])])
        } catch Refusal.signIn {
            return Self.json(.unauthorized, ["error": .string("Signed out: reload the page and sign in.")])
        } catch Refusal.page(let status, _, let text) {
            return Self.json(status, ["error": .string(text)])
        }
    }

    static func json(_ status: HTTPResponse.Status, _ members: [String: JSONValue]) -> Response {
        var headers = Pages.securityHeaders
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers,
                        body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(.object(JSONObject(members.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))))))
    }

    @Sendable func search(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .desk)
            let query = request.uri.queryParameters.get("q") ?? ""
            var values = visit.frame("Desk")
            values["query"] = query
            values.merge(results(try await services.cards.search(tenant: visit.tenant, mode: mode, query: query))) { $1 }
            return pages.render("desk", values)
        }
    }

    private func results(_ cards: [Cards.Card]) -> [String: Any] {
        ["searched": true, "resultCount": cards.count, "hasResults": !cards.isEmpty, "results": cards.map { card -> [String: Any] in
            ["serial": Self.path(card.serialNumber), "name": card.memberName, "memberId": card.memberID, "points": card.points, "voided": card.voided]
        }]
    }

    @Sendable func member(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .desk)
            let highlight = request.uri.queryParameters.get("done").flatMap { Int64($0) }
            let before = request.uri.queryParameters.get("before").flatMap { Int64($0) }
            return try await memberPage(visit, serial: try context.parameters.require("serial"), highlight: highlight, before: before)
        }
    }

    /// The member's page: who, the balance, what expires soon, the last visits, and the forms.
    /// - Parameter before: a ledger entry id: the page of older entries (the member's whole ledger, a page at a time).
    func memberPage(_ visit: Visit, serial: String, highlight: Int64? = nil, before: Int64? = nil, error: String? = nil,
                    status: HTTPResponse.Status = .ok) async throws -> Response {
        let card: Cards.Card
        do { card = try await services.cards.get(tenant: visit.tenant, mode: mode, serial: serial) } catch let error as DomainError where error.code == .notFound {
            return message(visit, .notFound, heading: "No such card", text: "No card \(serial.prefix(80)) at this business.")
        }
        let now = Self.now()
        async let pointsView = services.purchases.points(tenant: visit.tenant, mode: mode, serial: card.serialNumber)
        let pageSize = before == nil ? 8 : 50
        async let ledger = services.cards.ledger(tenant: visit.tenant, mode: mode, serial: card.serialNumber, limit: pageSize, before: before)
        async let siblings = services.cards.find(tenant: visit.tenant, mode: mode, code: card.memberID)
        async let catalogue = services.rewards.list(tenant: visit.tenant, mode: mode)
        async let version = services.cards.programs.inForce(tenant: visit.tenant, mode: mode, template: card.templateID, at: now)
        let program = try await version?.program
        var values = visit.frame("Desk")
        values["error"] = error
        values["serial"] = Self.path(card.serialNumber)
        values["name"] = card.memberName.isEmpty ? "Member \(card.memberID)" : card.memberName
        values["memberId"] = card.memberID
        values["points"] = card.points
        values["voided"] = card.voided
        values["tier"] = card.fields["tier"]?.stringValue
        values["nonce"] = SecureRandom.token(length: 24)
        if let next = try await pointsView.nextExpiry, next.at - now < 60 * 86_400_000 {
            values["expiring"] = "\(next.points) points expire on \(Self.when(next.at).prefix(10))."
        }
        let entries = try await ledger
        values["hasEntries"] = !entries.isEmpty
        if entries.count == pageSize, let oldest = entries.last {
            values["olderLink"] = "/app/members/\(Self.path(card.serialNumber))?before=\(oldest.id)"
        }
        // The member's other cards (one per template they hold).
        let others = try await siblings.filter { $0.serialNumber != card.serialNumber }
        values["hasOtherCards"] = !others.isEmpty
        values["otherCards"] = others.map { other -> [String: Any] in
            ["serial": Self.path(other.serialNumber), "points": other.points, "voided": other.voided, "template": other.templateID]
        }
        values["entries"] = entries.map { entry -> [String: Any] in
            ["when": Self.when(entry.createdAt), "what": "\(entry.type.rawValue): \(entry.reason)", "change": entry.points > 0 ? "+\(entry.points)" : "\(entry.points)",
             "balance": entry.balanceAfter, "highlight": entry.id == highlight]
        }
        if let highlighted = entries.first(where: { $0.id == highlight }) {
            values["flash"] = highlighted.points >= 0 ? "Done: +\(highlighted.points) points. Balance \(highlighted.balanceAfter)." :
                "Done: \(highlighted.points) points. Balance \(highlighted.balanceAfter)."
        }
        let offered = try await catalogue.filter { $0.reward.isActive(at: now) }
        values["hasRewards"] = !offered.isEmpty
        values["rewards"] = offered.map { entry -> [String: Any] in
            ["id": entry.id, "name": entry.reward.name, "cost": entry.reward.cost, "affordable": entry.reward.cost <= card.points]
        }
        if let program {
            values["hasProgram"] = true
            values["currency"] = program.currency.code
            var seen = Set<String>()
            let methods = program.earnRules.flatMap { $0.paymentMethods }.filter { seen.insert($0).inserted }
            values["methods"] = methods.enumerated().map { ["value": $1, "first": $0 == 0] }
        }
        return pages.render("member", values, status: status)
    }

    @Sendable func purchase(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .desk)
            let form = try await form(request, csrf: visit.session.csrfToken)
            let serial = try context.parameters.require("serial")
            let card = try await services.cards.get(tenant: visit.tenant, mode: mode, serial: serial)
            guard let program = try await services.cards.programs.inForce(tenant: visit.tenant, mode: mode, template: card.templateID,
                                                                          at: Self.now())?.program else {
                return try await memberPage(visit, serial: serial, error: "The business has no loyalty program in force.", status: .conflict)
            }
            let currency = program.currency
            guard let amount = form.text("amount").flatMap({ MoneyInput.minorUnits($0, minorDigits: currency.minorDigits) }), amount > 0,
                  amount <= Program.maxAmount else {
                return try await memberPage(visit, serial: serial, error: "The amount must be a positive number such as 12.50 (\(currency.code)).",
                                            status: .unprocessableContent)
            }
            let method = form.text("paymentMethod") ?? ""
            guard PaymentMethod.isValid(method) else {
                return try await memberPage(visit, serial: serial, error: "Choose how the customer paid.", status: .unprocessableContent)
            }
            let amountText = MoneyInput.format(amount, minorDigits: currency.minorDigits, code: currency.code)
            guard form["confirm"] == "1", let nonce = form.text("nonce"), nonce.count <= 64 else {
                // The points shown before confirming are the program's, for this member's tier.
                let preview = program.points(amount: amount, paymentMethod: method, tier: card.fields["tier"]?.stringValue).points
                var values = visit.frame("Desk")
                values.merge(["serial": Self.path(card.serialNumber), "name": card.memberName, "amount": MoneyInput.format(amount, minorDigits: currency.minorDigits, code: "").trimmingCharacters(in: .whitespaces),
                              "amountText": amountText, "paymentMethod": method, "preview": preview, "balanceAfter": card.points.addingReportingOverflow(preview).partialValue,
                              "nonce": SecureRandom.token(length: 24)]) { $1 }
                return pages.render("confirm", values)
            }
            let reference = "desk-" + nonce.filter { $0.isLetter || $0.isNumber }
            let requestHash = Digest.sha256(Array("\(card.serialNumber)\n\(amount)\n\(method)".utf8))
            do {
                let answer = try await services.purchases.purchase(
                    .init(serial: card.serialNumber, amount: amount, currency: currency.code, paymentMethod: method, reference: reference,
                          requestHash: requestHash, actor: "staff:\(visit.session.staff.email)"),
                    tenant: visit.tenant, mode: mode
                ) { outcome in Self.outcome(points: outcome.points, balance: outcome.balance) }
                let (created, body) = Self.unpack(answer)
                if created {
                    try await services.staff.record(visit.actor, tenant: visit.tenant, action: "purchase.credited", subject: card.serialNumber,
                                                    detail: "\(amountText) by \(method): +\(body["points"]?.intValue ?? 0) points")
                }
                return try await afterChange(card, visit: visit)
            } catch let error as DomainError {
                return try await memberPage(visit, serial: serial, error: error.message, status: error.code == .invalid ? .unprocessableContent : .conflict)
            }
        }
    }

    @Sendable func redeem(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .desk)
            let form = try await form(request, csrf: visit.session.csrfToken)
            let serial = try context.parameters.require("serial")
            guard let reward = form.text("reward"), let nonce = form.text("nonce"), nonce.count <= 64 else {
                return try await memberPage(visit, serial: serial, error: "Choose a reward.", status: .unprocessableContent)
            }
            do {
                let answer = try await services.rewards.redeem(tenant: visit.tenant, mode: mode, serial: serial, reward: reward, idempotencyKey: "desk-\(nonce)",
                                                               requestHash: Digest.sha256(Array("redeem\n\(serial)\n\(reward)".utf8)),
                                                               actor: "staff:\(visit.session.staff.email)") { redemption in
                    Self.outcome(points: -redemption.reward.reward.cost, balance: redemption.balance)
                }
                if Self.unpack(answer).created {
                    try await services.staff.record(visit.actor, tenant: visit.tenant, action: "reward.redeemed", subject: serial, detail: "reward \(reward)")
                }
                return try await afterChange(try await services.cards.get(tenant: visit.tenant, mode: mode, serial: serial), visit: visit)
            } catch let error as DomainError {
                return try await memberPage(visit, serial: serial, error: error.message, status: error.code == .notFound ? .notFound : .conflict)
            }
        }
    }

    @Sendable func correct(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .desk)
            let form = try await form(request, csrf: visit.session.csrfToken)
            let serial = try context.parameters.require("serial")
            guard let points = form.text("points").flatMap({ Int64($0) }), points != 0, (-PointsRules.maxChange...PointsRules.maxChange).contains(points) else {
                return try await memberPage(visit, serial: serial, error: "Points must be a whole number other than 0, such as 20 or -20.", status: .unprocessableContent)
            }
            guard let reason = form.text("reason") else {
                return try await memberPage(visit, serial: serial, error: "A correction needs a reason.", status: .unprocessableContent)
            }
            guard let nonce = form.text("nonce"), nonce.count <= 64 else { throw Refusal.page(.badRequest, heading: "Not a form", text: "The form lacks its nonce.") }
            do {
                let card = try await services.cards.get(tenant: visit.tenant, mode: mode, serial: serial)
                let result = try await services.cards.transact(
                    .init(serial: card.serialNumber, points: points, reason: "correction: \(reason)", idempotencyKey: "desk-\(nonce)",
                          requestHash: Digest.sha256(Array("correct\n\(serial)\n\(points)\n\(reason)".utf8)), actor: "staff:\(visit.session.staff.email)",
                          type: .adjust),
                    tenant: visit.tenant, mode: mode, jobs: services.jobs
                ) { outcome in Self.outcome(points: outcome.entry.points, balance: outcome.points) }
                if case .applied = result {
                    try await services.staff.record(visit.actor, tenant: visit.tenant, action: "points.corrected", subject: card.serialNumber,
                                                    detail: "\(points > 0 ? "+" : "")\(points): \(reason)")
                }
                return try await afterChange(card, visit: visit)
            } catch let error as DomainError {
                return try await memberPage(visit, serial: serial, error: error.message, status: error.code == .notFound ? .notFound : .unprocessableContent)
            }
        }
    }

    /// After a change: back to the member's page (a reload sends nothing again), with the newest
    /// entry highlighted and its result in words.
    private func afterChange(_ card: Cards.Card, visit: Visit) async throws -> Response {
        let newest = try await services.cards.ledger(tenant: visit.tenant, mode: mode, serial: card.serialNumber, limit: 1, before: nil).first
        return Pages.redirect("/app/members/\(Self.path(card.serialNumber))" + (newest.map { "?done=\($0.id)" } ?? ""))
    }

    static func outcome(points: Int64, balance: Int64) -> [UInt8] {
        JSONWriter.bytes(.object(JSONObject([("points", .int(points)), ("balance", .int(balance))])))
    }

    /// Whether the write happened now (not a replay of a form sent twice), and its answer.
    static func unpack(_ answer: WriteAnswer) -> (created: Bool, body: JSONValue) {
        switch answer {
        case .created(let body): (true, (try? JSONParser.parse(body)) ?? .null)
        case .replayed(_, let body): (false, (try? JSONParser.parse(body)) ?? .null)
        }
    }

    /// A serial number as one path segment.
    static func path(_ serial: String) -> String { serial.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? serial }
}
