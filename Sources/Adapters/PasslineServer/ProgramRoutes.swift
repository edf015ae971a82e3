import Hummingbird
import LoyaltyRules
import PasslineJSON
import PasslineService

/// The loyalty program: its rules, purchases that earn by them, refunds, and a card's points by lot.
extension PartnerAPI {
    /// `GET /api/v1/program[?template=T]`: the version in force for the key's mode (for the
    /// cards of template T: its own program, else the tenant's), and changes scheduled after it.
    @Sendable func getProgram(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let template = try await programTemplate(request, principal)
        let (inForce, scheduled) = try await services.programs.current(tenant: principal.tenant, mode: principal.mode, template: template)
        guard let inForce else {
            throw Problem.notFound("The tenant has no loyalty program in \(principal.mode.rawValue) mode yet; PUT /api/v1/program makes one.")
        }
        var body = Self.json(inForce)
        body["scheduled"] = .array(scheduled.map { .object(Self.json($0)) })
        return JSONResponse.make(.ok, .object(body))
    }

    /// `PUT /api/v1/program[?template=T]`: a new version of the tenant's program (or of template
    /// T's own, which its cards then follow instead), effective from `effectiveAt` (default
    /// now). 200 with it; 422 naming every fault.
    @Sendable func putProgram(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let template = try await programTemplate(request, principal)
        let document = try await RequestBody.object(request, limit: BodyLimit.card)
        let version = try await services.programs.change(tenant: principal.tenant, mode: principal.mode, template: template, document: document,
                                                         actor: principal.mode.rawValue + " key")
        return JSONResponse.make(.ok, .object(Self.json(version)))
    }

    /// `DELETE /api/v1/program?template=T`: T's cards follow the tenant's program again from now
    /// (entries made under T's keep naming it). 200 with the program they follow now.
    @Sendable func deleteProgram(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        guard let template = try await programTemplate(request, principal) else {
            throw Problem.invalidParameter("template", "is required: the tenant's own program is changed with PUT, never removed (its entries name it)")
        }
        try await services.programs.removeOverride(tenant: principal.tenant, mode: principal.mode, template: template, actor: principal.mode.rawValue + " key")
        return try await getProgram(request, context: context)
    }

    /// `GET /api/v1/program/summary[?template=T]`: the points the tenant's cards hold, and what
    /// of them expires in the next 7, 28 and 90 days.
    @Sendable func programSummary(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let template = try await programTemplate(request, principal)
        let summary = try await services.purchases.summary(tenant: principal.tenant, mode: principal.mode, template: template)
        return JSONResponse.make(.ok, .object(JSONObject([
            ("points", .int(summary.outstanding)), ("cards", .int(summary.cards)),
            ("expiring", .array(summary.expiring.map { window in
                .object(JSONObject([("withinDays", .int(window.days)), ("points", .int(window.points)), ("cards", .int(window.cards))]))
            })),
        ])))
    }

    /// The template `?template=` names (by name or id, of the key's mode), nil without one.
    private func programTemplate(_ request: Request, _ principal: PartnerPrincipal) async throws -> String? {
        guard let name = request.uri.queryParameters["template"].map(String.init) else { return nil }
        return try await services.templates.load(tenant: principal.tenant, mode: principal.mode, idOrName: name).id
    }

    static func json(_ version: Programs.Version) -> JSONObject {
        var object = version.program.json
        object["version"] = .int(version.version)
        object["template"] = version.template.map(JSONValue.string) ?? .null
        object["effectiveAt"] = .string(Timestamp.format(version.effectiveAt))
        object["changedBy"] = version.changedBy.map(JSONValue.string) ?? .null
        object["createdAt"] = .string(Timestamp.format(version.createdAt))
        return object
    }

    /// `POST /api/v1/cards/{serial}/purchases` `{amount, currency, paymentMethod, reference, occurredAt?}`:
    /// 201 with the purchase, the points earned, the balance and the card's version. The same
    /// reference (or Idempotency-Key) with the same body replays the answer.
    @Sendable func createPurchase(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let key = try IdempotencyKeyHeader.read(request)
        let body = try await RequestBody.bytes(request, limit: BodyLimit.small)
        let object = try RequestBody.object(RequestBody.parse(body))
        var purchase = try Self.purchaseRequest(object, serial: serial)
        purchase.idempotencyKey = key
        // The hash covers what the purchase is, so a replay of its reference must say the same.
        purchase.requestHash = RequestBody.hash("POST cards/\(serial)/purchases", JSONWriter.bytes(.object(object)))
        purchase.actor = principal.mode.rawValue
        let answer = try await services.purchases.purchase(purchase, tenant: principal.tenant, mode: principal.mode) { outcome in
            JSONWriter.bytes(.object(JSONObject([
                ("purchase", Self.json(outcome.purchase)), ("pointsEarned", .int(outcome.points)), ("points", .int(outcome.balance)),
                ("version", .int(outcome.version)),
            ])))
        }
        return JSONResponse.make(answer)
    }

    /// `POST /api/v1/cards/{serial}/purchases/{reference}/refund` `{"amount"?}`: 201 with the
    /// points taken back, the purchase as it now is, the balance and the card's version.
    @Sendable func refundPurchase(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        // The reference is the partner's text, percent-encoded in the path; the router leaves it encoded.
        let raw = try context.parameters.require("reference")
        guard let reference = raw.removingPercentEncoding else { throw Problem.invalidParameter("reference", "is not valid percent-encoding") }
        let key = try IdempotencyKeyHeader.read(request)
        let body = try await RequestBody.bytes(request, limit: BodyLimit.small)
        var amount: Int64?
        if !RequestBody.isBlank(body) {
            let object = try RequestBody.object(RequestBody.parse(body))
            var errors = RequestBody.unknownFields(object, allowed: ["amount"], of: "a refund")
            switch object["amount"] {
            case nil, .null?: break
            case .int(let value)? where value >= 1 && value <= Program.maxAmount: amount = value
            case let other?: errors.append(.init("amount", "must be 1 to 1,000,000,000,000 minor units (an integer), found \(JSONWriter.string(other).prefix(40))"))
            }
            guard errors.isEmpty else { throw Problem.invalidFields("The refund is not valid", errors) }
        }
        let hash = RequestBody.hash("POST cards/\(serial)/purchases/\(reference)/refund", body)
        let answer = try await services.purchases.refund(serial: serial, reference: reference, amount: amount, tenant: principal.tenant,
                                                         mode: principal.mode, idempotencyKey: key, requestHash: hash,
                                                         actor: principal.mode.rawValue) { outcome in
            JSONWriter.bytes(.object(JSONObject([
                ("refund", .object(JSONObject([("amount", .int(outcome.refunded)), ("pointsReversed", .int(outcome.points))]))),
                ("purchase", Self.json(outcome.purchase)), ("points", .int(outcome.balance)), ("version", .int(outcome.version)),
            ])))
        }
        return JSONResponse.make(answer)
    }

    /// `GET /api/v1/cards/{serial}/points`: the balance by lot, soonest expiry first.
    @Sendable func cardPoints(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let view = try await services.purchases.points(tenant: principal.tenant, mode: principal.mode, serial: serial)
        let lots: [JSONValue] = view.lots.map { lot in
            var object = JSONObject([("points", .int(lot.points)), ("remaining", .int(lot.remaining)), ("earnedAt", .string(Timestamp.format(lot.earnedAt))),
                                     ("expiresAt", lot.expiresAt.map { .string(Timestamp.format($0)) } ?? .null)])
            if let reference = lot.purchaseReference { object["purchase"] = .string(reference) }
            return .object(object)
        }
        let next: JSONValue = view.nextExpiry.map { .object(JSONObject([("points", .int($0.points)), ("at", .string(Timestamp.format($0.at)))])) } ?? .null
        return JSONResponse.make(.ok, .object(JSONObject([
            ("balance", .int(view.balance)), ("lots", .array(lots)), ("nextExpiry", next),
            ("reminders", .array(view.reminders.map { sent in
                .object(JSONObject([("daysBefore", .int(sent.daysBefore)), ("expiresAt", .string(Timestamp.format(sent.expiresAt))),
                                    ("points", .int(sent.points)), ("sentAt", .string(Timestamp.format(sent.sentAt)))]))
            })),
        ])))
    }

    /// `GET /api/v1/rewards`: the key's mode's catalogue, by name.
    @Sendable func listRewards(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let rewards = try await services.rewards.list(tenant: principal.tenant, mode: principal.mode)
        return JSONResponse.make(.ok, .object(JSONObject([("rewards", .array(rewards.map(Self.json)))])))
    }

    /// `POST /api/v1/rewards` `{"name", "cost", "description"?, "limit"?: {"count", "perDays"}, "activeFrom"?, "activeUntil"?}`.
    @Sendable func createReward(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let document = try await RequestBody.object(request, limit: BodyLimit.small)
        let reward = try await services.rewards.create(tenant: principal.tenant, mode: principal.mode, document: document)
        return JSONResponse.make(.created, Self.json(reward))
    }

    /// `POST /api/v1/cards/{serial}/redemptions` `{"reward": id or name}`: 201 with the redemption,
    /// the balance and the card's version; 409 when the balance, the window or the limit does not allow it.
    @Sendable func createRedemption(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let key = try IdempotencyKeyHeader.read(request)
        let body = try await RequestBody.bytes(request, limit: BodyLimit.small)
        let object = try RequestBody.object(RequestBody.parse(body))
        var errors = RequestBody.unknownFields(object, allowed: ["reward"], of: "a redemption")
        var reward = ""
        switch object["reward"] {
        case .string(let value)? where !value.isEmpty && value.count <= 100: reward = value
        case nil: errors.append(.init("reward", "is required (the reward's id or name)"))
        case let other?: errors.append(.init("reward", other.stringValue == nil ? "must be a string, found \(other.typeName)" : "must be 1 to 100 characters"))
        }
        guard errors.isEmpty else { throw Problem.invalidFields("The redemption is not valid", errors) }
        let hash = RequestBody.hash("POST cards/\(serial)/redemptions", body)
        let answer = try await services.rewards.redeem(tenant: principal.tenant, mode: principal.mode, serial: serial, reward: reward,
                                                       idempotencyKey: key, requestHash: hash, actor: principal.mode.rawValue) { redemption in
            JSONWriter.bytes(.object(JSONObject([
                ("redemption", .object(JSONObject([("id", .string(String(redemption.entryID))), ("reward", Self.json(redemption.reward)),
                                                   ("points", .int(-redemption.reward.reward.cost))]))),
                ("points", .int(redemption.balance)), ("version", .int(redemption.version)),
            ])))
        }
        return JSONResponse.make(answer)
    }

    static func json(_ entry: RewardCatalogue.Entry) -> JSONValue {
        var object = JSONObject([("id", .string(entry.id))])
        for member in entry.reward.json.members { object[member.key] = member.value }
        object["createdAt"] = .string(Timestamp.format(entry.createdAt))
        return .object(object)
    }

    /// `POST /api/v1/test-clocks` `{"frozenTime"}` (test keys only): 201 `{"id", "frozenTime", "status"}`.
    @Sendable func createTestClock(_ request: Request, context: Context) async throws -> Response {
        let principal = try Self.testPrincipal(context)
        let time = try Self.frozenTime(try await RequestBody.object(request, limit: BodyLimit.small))
        let clock = try await services.testClocks.create(tenant: principal.tenant, frozenTime: time)
        var response = JSONResponse.make(.created, Self.json(clock))
        response.headers[.location] = "/api/v1/test-clocks/\(clock.id)"
        return response
    }

    /// `GET /api/v1/test-clocks/{id}`: `status` is `advancing` until everything due up to its time has happened.
    @Sendable func getTestClock(_ request: Request, context: Context) async throws -> Response {
        let principal = try Self.testPrincipal(context)
        return JSONResponse.make(.ok, Self.json(try await services.testClocks.get(tenant: principal.tenant, id: try context.parameters.require("clock"))))
    }

    /// `POST /api/v1/test-clocks/{id}/advance` `{"frozenTime"}`: 200, `advancing`, then `ready`.
    @Sendable func advanceTestClock(_ request: Request, context: Context) async throws -> Response {
        let principal = try Self.testPrincipal(context)
        let time = try Self.frozenTime(try await RequestBody.object(request, limit: BodyLimit.small))
        let clock = try await services.testClocks.advance(tenant: principal.tenant, id: try context.parameters.require("clock"), to: time)
        return JSONResponse.make(.ok, Self.json(clock))
    }

    static func testPrincipal(_ context: Context) throws -> PartnerPrincipal {
        let principal = try context.principal()
        guard principal.mode == .test else {
            throw Problem(.forbidden, type: "test-only", title: "Test clocks need a test key",
                          detail: "Test clocks are for test keys: live cards live on the real clock.")
        }
        return principal
    }

    static func frozenTime(_ object: JSONObject) throws -> Int64 {
        var errors = RequestBody.unknownFields(object, allowed: ["frozenTime"], of: "a test clock")
        var time: Int64?
        switch object["frozenTime"] {
        case .string(let text)?:
            time = Timestamp.parse(text)
            if time == nil { errors.append(.init("frozenTime", "must be an RFC 3339 time such as 2027-01-01T09:00:00Z")) }
        case nil: errors.append(.init("frozenTime", "is required (an RFC 3339 time)"))
        case let other?: errors.append(.init("frozenTime", "must be an RFC 3339 time (a string), found \(other.typeName)"))
        }
        guard errors.isEmpty, let time else { throw Problem.invalidFields("The test clock is not valid", errors) }
        return time
    }

    static func json(_ clock: TestClockService.Clock) -> JSONValue {
        // While it advances, the time it is heading for (as Stripe's clocks show it).
        .object(JSONObject([("id", .string(clock.id)), ("frozenTime", .string(Timestamp.format(clock.targetTime))), ("status", .string(clock.status.rawValue))]))
    }

    static func purchaseRequest(_ object: JSONObject, serial: String) throws -> PointsPurchases.PurchaseRequest {
        var errors = RequestBody.unknownFields(object, allowed: ["amount", "currency", "paymentMethod", "reference", "occurredAt"], of: "a purchase")
        var amount: Int64 = 0
        switch object["amount"] {
        case .int(let value)? where value >= 1 && value <= Program.maxAmount: amount = value
        case nil: errors.append(.init("amount", "is required (minor units, an integer: 12345 is 123.45 EUR)"))
        case let other?: errors.append(.init("amount", "must be 1 to 1,000,000,000,000 minor units (an integer), found \(JSONWriter.string(other).prefix(40))"))
        }
        func text(_ name: String, _ rule: String) -> String {
            switch object[name] {
            case .string(let value)?: return value
            case nil: errors.append(.init(name, "is required (\(rule))")); return ""
            case let other?: errors.append(.init(name, "must be a string (\(rule)), found \(other.typeName)")); return ""
            }
        }
        let currency = text("currency", "an ISO 4217 code such as EUR")
        let method = text("paymentMethod", "for example cash or card")
        let reference = text("reference", "your id of the purchase, 1 to 128 characters")
        var occurredAt: Int64?
        switch object["occurredAt"] {
        case nil, .null?: break
        case .string(let value)?:
            occurredAt = Timestamp.parse(value)
            if occurredAt == nil { errors.append(.init("occurredAt", "must be an RFC 3339 time such as 2026-12-04T09:30:00Z")) }
        case let other?: errors.append(.init("occurredAt", "must be an RFC 3339 time (a string), found \(other.typeName)"))
        }
        guard errors.isEmpty else { throw Problem.invalidFields("The purchase is not valid", errors) }
        return PointsPurchases.PurchaseRequest(serial: serial, amount: amount, currency: currency, paymentMethod: method, reference: reference,
                                               occurredAt: occurredAt)
    }

    static func json(_ purchase: PointsPurchases.Purchase) -> JSONValue {
        .object(JSONObject([
            ("reference", .string(purchase.reference)), ("serialNumber", .string(purchase.serial)), ("amount", .int(purchase.amount)),
            ("currency", .string(purchase.currency)), ("paymentMethod", .string(purchase.paymentMethod)),
            ("occurredAt", .string(Timestamp.format(purchase.occurredAt))), ("pointsEarned", .int(purchase.pointsEarned)),
            ("programVersion", purchase.programVersion.map(JSONValue.int) ?? .null), ("amountRefunded", .int(purchase.amountRefunded)),
            ("pointsReversed", .int(purchase.pointsReversed)),
        ]))
    }

}
