import ApplePass
import Foundation
import GoogleWallet
import Hummingbird
import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineQR
import PasslineService

/// The partner API under /api/v1: `Authorization: Bearer <API key>`, the key fixes tenant and mode.
struct PartnerAPI<Context: PartnerRequestContext>: Sendable {
    let services: Services

    func addRoutes(to router: Router<Context>) {
        // Every route of the group is authenticated here, once; a handler added later cannot forget it.
        let api = router.group("api/v1").add(middleware: PartnerKeyMiddleware<Context>(tenants: services.tenants, rateLimits: services.rateLimits))
        // Every POST and PATCH takes an Idempotency-Key. Transactions, purchases, refunds and
        // redemptions keep their answer in the change's own transaction; the rest go through this.
        let once = IdempotentRoute<Context>(services: services)
        api.post("templates", use: once.wrap("POST templates", limit: max(BodyLimit.templateZip, BodyLimit.templateJSON), createTemplate))
        api.get("templates", use: listTemplates)
        api.get("templates/:template", use: getTemplate)
        api.post("cards", use: once.wrap("POST cards", limit: BodyLimit.card, createCard))
        api.get("cards/:serial", use: getCard)
        api.get("cards/:serial/pass.pkpass", use: cardPass)
        api.get("passes.pkpasses", use: passBundle)
        api.post("cards/:serial/transactions", use: createTransaction)
        api.get("cards/:serial/transactions", use: listTransactions)
        api.get("device-logs", use: deviceLogs)
        api.get("tenant", use: tenant)
        api.get("installs", use: installs)
        api.post("templates/:template/reissue", use: once.wrap("POST templates/{template}/reissue", limit: BodyLimit.card, startCampaign))
        api.post("templates/:template/message", use: once.wrap("POST templates/{template}/message", limit: BodyLimit.card, startCampaign))
        api.get("campaigns/:campaign", use: getCampaign)
        api.post("cards/:serial/message", use: once.wrap("POST cards/{serial}/message", limit: BodyLimit.card, messageCard))
        api.get("cards/:serial/delivery", use: cardDelivery)
        api.patch("cards/:serial", use: once.wrap("PATCH cards/{serial}", limit: BodyLimit.card, patchCard))
        api.post("cards/:serial/reissue", use: once.wrap("POST cards/{serial}/reissue", limit: BodyLimit.card, reissueCard))
        api.post("cards/:serial/void", use: once.wrap("POST cards/{serial}/void", limit: BodyLimit.small, voidCard))
        api.get("cards/:serial/qr.svg", use: cardQR)
        api.get("cards/:serial/qr.png", use: cardQR)
        api.get("program", use: getProgram)
        api.put("program", use: putProgram)
        api.delete("program", use: deleteProgram)
        api.get("program/summary", use: programSummary)
        api.post("cards/:serial/purchases", use: createPurchase)
        api.post("cards/:serial/purchases/:reference/refund", use: refundPurchase)
        api.get("cards/:serial/points", use: cardPoints)
        api.get("rewards", use: listRewards)
        api.post("rewards", use: once.wrap("POST rewards", limit: BodyLimit.small, createReward))
        api.post("cards/:serial/redemptions", use: createRedemption)
        api.post("test-clocks", use: once.wrap("POST test-clocks", limit: BodyLimit.small, createTestClock))
        api.get("test-clocks/:clock", use: getTestClock)
        api.post("test-clocks/:clock/advance", use: once.wrap("POST test-clocks/{clock}/advance", limit: BodyLimit.small, advanceTestClock))
        addWebhookRoutes(to: api, once: once)
    }

    /// The member's own code (what the pass's barcode carries), for receipts and emails, or with
    /// `?of=page` a code that opens the card's public page. `?level=L|M|Q|H`, `?scale=1…32`.
    @Sendable func cardQR(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let query = request.uri.queryParameters
        let levelText = query["level"].map(String.init) ?? "M"
        guard let level = QRCode.Level(rawValue: levelText) else { throw Problem.invalidParameter("level", "must be one of L, M, Q, H, found \(levelText)") }
        let scaleText = query["scale"].map(String.init)
        guard let scale = scaleText.map({ Int($0) }) ?? 8, (1...32).contains(scale) else { throw Problem.invalidParameter("scale", "must be 1 to 32 pixels a module") }
        let card = try await services.cards.get(tenant: principal.tenant, mode: principal.mode, serial: serial)
        let text: String
        switch query["of"].map(String.init) ?? "member" {
        case "member":
            let preview = try PassPreview(pkpass: try await services.cards.pass(card))
            text = preview.barcode?.message ?? card.memberID
        case "page": text = services.cards.pageLink(card)
        case let other: throw Problem.invalidParameter("of", "must be member or page, found \(other)")
        }
        let code: QRCode
        do { code = try QRCode(text, level: level) } catch { throw Problem.invalidParameter("level", "\(error)") }
        let png = request.uri.path.hasSuffix(".png")
        return Response(status: .ok, headers: [.contentType: png ? "image/png" : "image/svg+xml", .cacheControl: "private, max-age=3600"],
                        body: .init(byteBuffer: png ? ByteBuffer(bytes: try code.png(scale: scale)) : ByteBuffer(string: code.svg(pixelsPerModule: scale))))
    }

    /// Changes `memberName` and/or `fields` (replacing them): a new version, pushed to every device.
    @Sendable func patchCard(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let object = try await RequestBody.object(request, limit: BodyLimit.card)
        var memberName: String?, fields: JSONObject?
        for key in object.keys where !(["memberName", "fields"] + WalletOptions.keys).contains(key) {
            throw Problem.invalid(key, "cannot be changed here (memberName, fields, \(WalletOptions.keys.joined(separator: ", ")) can; points change through transactions)")
        }
        switch object["memberName"] {
        case nil: break
        case .string(let s)? where !s.isEmpty && s.count <= 256: memberName = s
        case let other?: throw Problem.invalid("memberName", other.stringValue == nil ? "must be a string, found \(other.typeName)" : "must be 1 to 256 characters")
        }
        switch object["fields"] {
        case nil: break
        case .object(let given)?:
            for member in given.members where member.value.arrayValue != nil || member.value.objectValue != nil {
                throw Problem.invalid("fields.\(member.key)", "must be a single value, found \(member.value.typeName)")
            }
            fields = given
        case let other?: throw Problem.invalid("fields", "must be an object, found \(other.typeName)")
        }
        var wallet: WalletOptions?
        if object.keys.contains(where: WalletOptions.keys.contains) {
            let current = try await services.cards.get(tenant: principal.tenant, mode: principal.mode, serial: serial)
            wallet = try current.wallet.applying(object)
        }
        guard memberName != nil || fields != nil || wallet != nil else {
            throw Problem.invalid("body", "names nothing to change (memberName, fields, \(WalletOptions.keys.joined(separator: ", ")))")
        }
        let card = try await services.cards.change(tenant: principal.tenant, mode: principal.mode, serial: serial, memberName: memberName, fields: fields,
                                        voided: nil, wallet: wallet, jobs: services.jobs)
        return JSONResponse.make(.ok, try await json(card))
    }

    /// A new version with the same data (after a template change, say), pushed to every device.
    @Sendable func reissueCard(_ request: Request, context: Context) async throws -> Response {
        try await newVersion(request, context: context, voided: nil)
    }

    /// Voids the card: its pass gets `"voided": true`, devices are told, and it takes no more changes.
    @Sendable func voidCard(_ request: Request, context: Context) async throws -> Response {
        try await newVersion(request, context: context, voided: true)
    }

    private func newVersion(_ request: Request, context: Context, voided: Bool?) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let card = try await services.cards.change(tenant: principal.tenant, mode: principal.mode, serial: serial, memberName: nil, fields: nil, voided: voided, jobs: services.jobs)
        return JSONResponse.make(.ok, try await json(card))
    }

    /// The key's tenant: its pass type, days until its certificate expires, and whether pushes are paused.
    @Sendable func tenant(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let info = try await services.tenants.info(tenant: principal.tenant)
        return JSONResponse.make(.ok, AdminAPI<Context>.json(info))
    }

    /// What devices reported through Apple's log endpoint for this tenant, newest first.
    @Sendable func deviceLogs(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        // Wallet's log calls name no pass (Apple's path has only the tenant), so a message cannot
        // be told to come from a test card; they may name live cards and customers' devices.
        guard principal.mode == .live else {
            throw Problem(.forbidden, type: "live-only", title: "Device logs need a live key",
                          detail: "Wallet's log messages cannot be attributed to a mode and may describe live cards; read them with a live key.")
        }
        let limitText = request.uri.queryParameters["limit"].map(String.init)
        guard let limit = limitText.map({ Int($0) }) ?? 100, (1...1000).contains(limit) else { throw Problem.invalidParameter("limit", "must be 1 to 1000") }
        let logs = try await services.devices.logs(tenant: principal.tenant, limit: limit)
        let items = logs.map { JSONValue.object(JSONObject([("message", .string($0.message)), ("createdAt", .string(HTTPDate.iso8601($0.at)))])) }
        return JSONResponse.make(.ok, .object(JSONObject([("logs", .array(items))])))
    }

    /// Earn (positive) or redeem (negative) points: 201 with the entry, the balance and the version;
    /// 409 when a redemption exceeds the balance; with `Idempotency-Key`, a repeat gets the stored answer.
    @Sendable func createTransaction(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let key = try IdempotencyKeyHeader.read(request)
        let body = try await RequestBody.bytes(request, limit: BodyLimit.small)
        var points = try Self.pointsRequest(RequestBody.object(RequestBody.parse(body)), serial: serial)
        points.idempotencyKey = key
        points.requestHash = RequestBody.hash("POST cards/\(serial)/transactions", body)
        points.actor = principal.mode.rawValue
        let result = try await services.cards.transact(points, tenant: principal.tenant, mode: principal.mode, jobs: services.jobs) { outcome in
            JSONWriter.bytes(.object(JSONObject([
                ("transaction", Self.json(outcome.entry)), ("points", .int(outcome.points)), ("version", .int(outcome.version)),
            ])))
        }
        switch result {
        case .applied(_, let body):
            return JSONResponse.make(.created, bytes: body)
        case .replayed(let status, let body):
            return JSONResponse.make(HTTPResponse.Status(code: status), bytes: body, headers: [.init("Idempotent-Replayed")!: "true"])
        }
    }

    /// Reads `{"points", "reason", "amount"?}`, naming every field at fault.
    static func pointsRequest(_ object: JSONObject, serial: String) throws -> Cards.PointsRequest {
        var errors: [Problem.FieldError] = []
        var points: Int64 = 0, reason = "", amount: Int64?
        switch object["points"] {
        case .int(let p)? where p != 0 && p >= -PointsRules.maxChange && p <= PointsRules.maxChange: points = p
        case .int(0)?: errors.append(.init("points", "must not be zero"))
        case .int?: errors.append(.init("points", "must be within ±1,000,000,000 (positive to earn, negative to redeem)"))
        case nil: errors.append(.init("points", "is required (positive to earn, negative to redeem)"))
        case let other?: errors.append(.init("points", "must be an integer, found \(other.typeName)"))
        }
        switch object["reason"] {
        case .string(let r)? where !r.isEmpty && r.count <= 200: reason = r
        case nil: errors.append(.init("reason", "is required"))
        case let other?: errors.append(.init("reason", other.stringValue == nil ? "must be a string, found \(other.typeName)" : "must be 1 to 200 characters"))
        }
        switch object["amount"] {
        case nil, .null?: break
        case .int(let a)? where a >= 0: amount = a
        case let other?: errors.append(.init("amount", "must be zero or more minor units (an integer), found \(JSONWriter.string(other))"))
        }
        var type: EntryType?
        switch object["type"] {
        case nil, .null?: break
        case .string("adjust")?: type = .adjust
        case .string("earn")? where points >= 0: type = .earn
        case .string("redeem")? where points <= 0: type = .redeem
        case .string("earn")?, .string("redeem")?: errors.append(.init("type", "earn takes positive points, redeem negative"))
        case let other?: errors.append(.init("type", "must be earn, redeem or adjust (a correction), found \(JSONWriter.string(other).prefix(40))"))
        }
        guard errors.isEmpty else { throw Problem.invalidFields("The transaction is not valid", errors) }
        return Cards.PointsRequest(serial: serial, points: points, reason: reason, amount: amount, type: type)
    }

    /// The ledger, newest first: `?limit=` (1-200, default 50) and `?before=<id>` for the next page.
    @Sendable func listTransactions(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let limitText = request.uri.queryParameters["limit"].map(String.init)
        guard let limit = limitText.map({ Int($0) }) ?? 50, (1...200).contains(limit) else { throw Problem.invalidParameter("limit", "must be 1 to 200") }
        let beforeText = request.uri.queryParameters["before"].map(String.init)
        let before = try beforeText.map { text -> Int64 in
            guard let value = Int64(text) else { throw Problem.invalidParameter("before", "must be a transaction id") }
            return value
        }
        let entries = try await services.cards.ledger(tenant: principal.tenant, mode: principal.mode, serial: serial, limit: limit + 1, before: before)
        var body = JSONObject([("transactions", .array(entries.prefix(limit).map(Self.json)))])
        if entries.count > limit, let last = entries.prefix(limit).last { body["next"] = .string("?before=\(last.id)&limit=\(limit)") }
        return JSONResponse.make(.ok, .object(body))
    }

    static func json(_ entry: LedgerEntry) -> JSONValue {
        var object = JSONObject([("id", .string(String(entry.id))), ("type", .string(entry.type.rawValue)), ("points", .int(entry.points)),
                                 ("balanceAfter", .int(entry.balanceAfter)), ("reason", .string(entry.reason))])
        if let amount = entry.amount { object["amount"] = .int(amount) }
        if let reference = entry.purchaseReference { object["purchase"] = .string(reference) }
        if let version = entry.programVersion { object["programVersion"] = .int(version) }
        object["createdAt"] = .string(HTTPDate.iso8601(entry.createdAt))
        return .object(object)
    }


    @Sendable func createTemplate(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        guard let name = request.uri.queryParameters["name"].map(String.init), !name.isEmpty else {
            throw Problem.invalidParameter("name", "is required as a query parameter (?name=loyalty)")
        }
        let json = request.headers[.contentType].map { $0.lowercased().hasPrefix("application/json") } ?? false
        let body = try await RequestBody.bytes(request, limit: json ? BodyLimit.templateJSON : BodyLimit.templateZip)
        let summary = json
            ? try await services.templates.create(tenant: principal.tenant, mode: principal.mode, name: name, files: try Self.templateFiles(body))
            : try await services.templates.create(tenant: principal.tenant, mode: principal.mode, name: name, zip: body)
        return JSONResponse.make(.created, Self.json(summary))
    }

    /// The JSON form of a template upload: `{"passJson": {…}, "files": {"icon.png": "<base64>", "en.lproj/pass.strings": "<base64>", …}}`,
    /// for clients that build templates in code rather than zipping a folder.
    static func templateFiles(_ body: [UInt8]) throws -> [String: [UInt8]] {
        let object = try RequestBody.object(RequestBody.parse(body))
        var errors: [Problem.FieldError] = []
        var files: [String: [UInt8]] = [:]
        for key in object.keys where key != "passJson" && key != "files" {
            errors.append(.init(key, "is not part of a template upload (passJson, files)"))
        }
        switch object["passJson"] {
        case .object(let passJSON)?: files["pass.json"] = JSONWriter.bytes(.object(passJSON))
        case nil: errors.append(.init("passJson", "is required: the template's pass.json as an object"))
        case let other?: errors.append(.init("passJson", "must be an object, found \(other.typeName)"))
        }
        switch object["files"] {
        case nil: errors.append(.init("files", "is required: at least icon.png, base64-encoded"))
        case .object(let given)?:
            for member in given.members {
                let field = "files.\(member.key)"
                if member.key == "pass.json" { errors.append(.init(field, "goes in passJson")); continue }
                guard case .string(let text) = member.value else { errors.append(.init(field, "must be base64 text, found \(member.value.typeName)")); continue }
                guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters), !data.isEmpty else {
                    errors.append(.init(field, "is not base64")); continue
                }
                files[member.key] = [UInt8](data)
            }
        case let other?: errors.append(.init("files", "must be an object of file name to base64 content, found \(other.typeName)"))
        }
        guard errors.isEmpty else { throw Problem.invalidFields("The template upload is not valid", errors) }
        return files
    }

    @Sendable func listTemplates(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let list = try await services.templates.list(tenant: principal.tenant, mode: principal.mode)
        return JSONResponse.make(.ok, .object(JSONObject([("templates", .array(list.map(Self.json)))])))
    }

    @Sendable func getTemplate(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let idOrName = try context.parameters.require("template")
        let summary = try await services.templates.summary(tenant: principal.tenant, mode: principal.mode, idOrName: idOrName)
        return JSONResponse.make(.ok, Self.json(summary))
    }

    @Sendable func createCard(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let new = try Self.newCard(try await RequestBody.json(request, limit: BodyLimit.card))
        let card = try await services.cards.create(tenant: principal.tenant, mode: principal.mode, new)
        // A new card may have queued its Google object: wake the worker rather than let it poll.
        services.jobs.notifyCommitted()
        return JSONResponse.make(.created, try await json(card))
    }

    @Sendable func getCard(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let card = try await services.cards.get(tenant: principal.tenant, mode: principal.mode, serial: serial)
        return JSONResponse.make(.ok, try await json(card))
    }

    @Sendable func cardPass(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let card = try await services.cards.get(tenant: principal.tenant, mode: principal.mode, serial: serial)
        return try await PassDownload.response(for: card, request: request) { try await services.cards.pass(card) }
    }

    /// `GET /api/v1/passes.pkpasses?serials=A,B`: the cards' current passes in one bundle, in the
    /// order given (a member's card and a voucher, added to Wallet together).
    @Sendable func passBundle(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let text = request.uri.queryParameters["serials"].map(String.init) ?? ""
        let serials = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !serials.isEmpty, serials.count <= PassBundle.maxPasses else {
            throw Problem.invalidParameter("serials", "must list 1 to \(PassBundle.maxPasses) serial numbers, comma-separated (Wallet takes at most \(PassBundle.maxPasses) from one bundle)")
        }
        guard Set(serials).count == serials.count else { throw Problem.invalidParameter("serials", "names a card twice") }
        var passes: [(name: String, pkpass: [UInt8])] = []
        for serial in serials {
            let card = try await services.cards.get(tenant: principal.tenant, mode: principal.mode, serial: serial)
            passes.append((card.serialNumber, try await services.cards.pass(card)))
        }
        return Response(status: .ok, headers: [.contentType: PassBundle.contentType, .contentDisposition: "attachment; filename=\"passes.pkpasses\"",
                                               .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try PassBundle.pkpasses(passes))))
    }

    /// Reads `{"template", "memberId", "memberName", "points", "fields"}`, naming every bad field.
    static func newCard(_ json: JSONValue) throws -> Cards.NewCard {
        let object = try RequestBody.object(json)
        var errors: [Problem.FieldError] = []
        func string(_ key: String, max: Int) -> String? {
            switch object[key] {
            case .string(let s)? where !s.isEmpty && s.count <= max && !s.utf8.contains(0): return s
            case nil: errors.append(.init(key, "is required"))
            case .string?: errors.append(.init(key, "must be 1 to \(max) characters, without NUL"))
            case let other?: errors.append(.init(key, "must be a string, found \(other.typeName)"))
            }
            return nil
        }
        let template = string("template", max: 100), memberID = string("memberId", max: 256), memberName = string("memberName", max: 256)
        var points: Int64?
        switch object["points"] {
        case .int(let p)? where p >= 0 && p <= PointsRules.maxBalance: points = p
        case .int?: errors.append(.init("points", "must be 0 to 1,000,000,000,000"))
        case nil: errors.append(.init("points", "is required"))
        case let other?: errors.append(.init("points", "must be an integer, found \(other.typeName)"))
        }
        var fields = JSONObject()
        switch object["fields"] {
        case nil, .null?: break
        case .object(let given)?:
            for member in given.members {
                switch member.value {
                case .array, .object: errors.append(.init("fields.\(member.key)", "must be a single value, found \(member.value.typeName)"))
                default: fields[member.key] = member.value
                }
            }
        case let other?: errors.append(.init("fields", "must be an object, found \(other.typeName)"))
        }
        var testClock: String?
        switch object["testClock"] {
        case nil, .null?: break
        case .string(let id)? where !id.isEmpty && id.count <= 64: testClock = id
        case let other?: errors.append(.init("testClock", other.stringValue == nil ? "must be a test clock's id (a string), found \(other.typeName)" : "must be a test clock's id"))
        }
        var wallet = WalletOptions()
        do { wallet = try WalletOptions().applying(object) } catch { errors += error.faults.map { .init($0.field, $0.message) } }
        guard errors.isEmpty, let template, let memberID, let memberName, let points else { throw Problem.invalidFields("The card is not valid", errors) }
        return Cards.NewCard(template: template, memberID: memberID, memberName: memberName, points: points, fields: fields, testClock: testClock,
                             wallet: wallet)
    }

    func json(_ card: Cards.Card) async throws -> JSONValue {
        var links = JSONObject([("applePass", .string(services.cards.applePassLink(card)))])
        if services.googleSaveURL != nil, let google = try await services.cards.googleSaveLink(card) { links["googleSave"] = .string(google) }
        links["page"] = .string(services.cards.pageLink(card))
        var object = JSONObject([
            ("serialNumber", .string(card.serialNumber)), ("template", .string(card.templateID)), ("mode", .string(card.mode.rawValue)),
            ("memberId", .string(card.memberID)), ("memberName", .string(card.memberName)), ("points", .int(card.points)),
            ("fields", .object(card.fields)), ("version", .int(card.version)), ("voided", .bool(card.voided)),
            ("links", .object(links)),
            ("createdAt", .string(HTTPDate.iso8601(card.createdAt))), ("updatedAt", .string(HTTPDate.iso8601(card.updatedAt))),
            ("testClock", card.testClock.map(JSONValue.string) ?? .null),
        ])
        // The card's own wallet options, each null when the template's apply.
        let wallet = card.wallet.json
        for key in WalletOptions.keys { object[key] = wallet[key] ?? .null }
        return .object(object)
    }

    static func json(_ summary: Templates.Summary) -> JSONValue {
        .object(JSONObject([
            ("id", .string(summary.id)), ("name", .string(summary.name)), ("style", .string(summary.style)),
            ("placeholders", .array(summary.placeholders.map(JSONValue.string))), ("warnings", .array(summary.warnings.map(JSONValue.string))),
            ("createdAt", .string(HTTPDate.iso8601(summary.createdAt))),
        ]))
    }
}

/// Authenticates `Authorization: Bearer <API key>` for the partner API and puts the key's tenant
/// and mode into the context.
extension PartnerAPI {
    /// `GET /api/v1/installs`: the tenant's cards added to and taken off wallets, per template
    /// and wallet, and how many are on a device now.
    @Sendable func installs(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let figures = try await services.status.installs(tenant: principal.tenant)
        var totals = JSONObject()
        for wallet in ["apple", "google"] {
            let rows = figures.filter { $0.wallet.rawValue == wallet }
            totals[wallet] = .object(JSONObject([("installs", .int(rows.map(\.installs).reduce(0, +))), ("removals", .int(rows.map(\.removals).reduce(0, +))),
                                                 ("active", .int(rows.map(\.active).reduce(0, +)))]))
        }
        return JSONResponse.make(.ok, .object(JSONObject([
            ("totals", .object(totals)),
            ("templates", .array(figures.map { row in
                .object(JSONObject([("template", .string(row.template)), ("wallet", .string(row.wallet.rawValue)), ("installs", .int(row.installs)),
                                    ("removals", .int(row.removals)), ("active", .int(row.active))]))
            })),
        ])))
    }
}

struct PartnerKeyMiddleware<Context: PartnerRequestContext>: RouterMiddleware {
    let tenants: Tenants
    /// Nil: no limits (the operator turned them off).
    let rateLimits: RateLimits?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Problem.unauthorized("An Authorization: Bearer <API key> header is required.")
        }
        let key = String(header.dropFirst(7))
        guard let found = try await tenants.credential(key: key) else {
            throw Problem.unauthorized("The API key is unknown or revoked.")
        }
        if let reason = found.suspended {
            throw Problem(.forbidden, type: "tenant-suspended", title: "The tenant is suspended",
                          detail: "The platform's operator suspended this tenant (\(reason)); its passes are still served, but nothing changes until it is resumed.")
        }
        var context = context
        context.partner = PartnerPrincipal(tenant: found.tenant, mode: found.mode)
        context.facts.tenantID = found.tenant
        guard let rateLimits else { return try await next(request, context) }
        // The bucket's name is a digest of the key: the key itself is never stored or logged.
        let outcome = try await rateLimits.take(tenant: found.tenant, keyID: Digest.hex(Array(Digest.sha256(Array(key.utf8)).prefix(12))))
        let fields = RateLimitHeaders.fields(outcome)
        guard outcome.decision.allowed else {
            let wait = Int(outcome.decision.retryAfterSeconds ?? 1)
            var problem = Problem.rateLimited("Too many requests", detail: outcome.name == "key"
                ? "This API key may send \(outcome.limit.burst) requests at once, then \(outcome.limit.perSecond) a second. Try again in \(wait) s."
                : "The tenant's keys together may send \(outcome.limit.burst) requests at once, then \(outcome.limit.perSecond) a second. Try again in \(wait) s.",
                retryAfter: wait)
            problem.headers.append(contentsOf: fields)
            throw problem
        }
        do {
            var response = try await next(request, context)
            response.headers.append(contentsOf: fields)
            return response
        } catch {
            // An error answer carries the limit too.
            guard var problem = Problem.from(error) else { throw error }
            problem.headers.append(contentsOf: fields)
            throw problem
        }
    }
}

/// The IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers):
/// the policy's quota `q` over its window `w` in seconds; what `r`emains and the seconds `t`
/// until the quota is whole again.
enum RateLimitHeaders {
    static func fields(_ outcome: RateLimits.Outcome) -> HTTPFields {
        var fields = HTTPFields()
        fields[.init("RateLimit-Policy")!] = "\"\(outcome.name)\";q=\(outcome.limit.burst);w=\(outcome.limit.windowSeconds)"
        fields[.init("RateLimit")!] = "\"\(outcome.name)\";r=\(outcome.decision.remaining);t=\(outcome.decision.resetSeconds)"
        return fields
    }
}
