import ApplePass
import Foundation
import Hummingbird
import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineService

/// The operator's API under /admin/v1, guarded by `PASSLINE_ADMIN_TOKEN`: what `passline tenant`
/// does on the command line, for a platform that provisions tenants itself. Without a token
/// configured every route answers 404, so an unconfigured server offers no door to knock on.
struct AdminAPI<Context: RequestContext>: Sendable {
    let services: Services
    let token: String?

    func addRoutes(to router: Router<Context>) {
        let admin = router.group("admin/v1").add(middleware: AdminTokenMiddleware<Context>(token: token))
        admin.get("tenants", use: listTenants)
        admin.post("tenants", use: createTenant)
        admin.get("tenants/:tenant", use: getTenant)
        admin.put("tenants/:tenant/identity", use: replaceIdentity)
        admin.put("tenants/:tenant/google", use: setGoogle)
        admin.put("tenants/:tenant/rate-limit", use: setRateLimit)
        admin.delete("tenants/:tenant/rate-limit", use: clearRateLimit)
        admin.get("tenants/:tenant/google", use: getGoogle)
        admin.post("tenants/:tenant/keys", use: createKey)
        admin.post("tenants/:tenant/invitations", use: invite)
        admin.post("tenants/:tenant/suspend", use: suspend)
        admin.post("tenants/:tenant/resume", use: resume)
        admin.delete("tenants/:tenant/keys/:key", use: revokeKey)
    }

    @Sendable func listTenants(_ request: Request, context: Context) async throws -> Response {
        let list = try await services.tenants.list()
        return JSONResponse.make(.ok, .object(JSONObject([("tenants", .array(list.map(Self.json)))])))
    }

    @Sendable func getTenant(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("tenant")
        let info = try await services.tenants.info(tenant: id)
        return JSONResponse.make(.ok, Self.json(info))
    }

    /// `{"name", "identity": {"certificate", "privateKey", "privateKeyPassphrase"?, "intermediates"}}`, PEM text.
    @Sendable func createTenant(_ request: Request, context: Context) async throws -> Response {
        let object = try await Self.body(request)
        var errors: [Problem.FieldError] = []
        var name: String?
        switch object["name"] {
        case .string(let s)? where !s.isEmpty && s.count <= 200: name = s
        case nil: errors.append(.init("name", "is required"))
        case let other?: errors.append(.init("name", other.stringValue == nil ? "must be a string, found \(other.typeName)" : "must be 1 to 200 characters"))
        }
        var identityObject: JSONObject?
        switch object["identity"] {
        case .object(let given)?: identityObject = given
        case nil: errors.append(.init("identity", "is required: {certificate, privateKey, intermediates} as PEM text"))
        case let other?: errors.append(.init("identity", "must be an object, found \(other.typeName)"))
        }
        guard errors.isEmpty, let name, let identityObject else { throw Self.invalid(errors) }
        let identity = try Self.identity(identityObject, prefix: "identity.")
        let created = try await services.tenants.create(name: name, identity: identity)
        return JSONResponse.make(.created, .object(JSONObject([
            ("id", .string(created.id)), ("name", .string(created.name)), ("passTypeIdentifier", .string(created.passTypeIdentifier)),
            ("liveKey", .string(created.liveKey)), ("testKey", .string(created.testKey)),
        ])))
    }

    /// Replaces the signing identity: the body is `{"certificate", "privateKey", "privateKeyPassphrase"?, "intermediates"}`.
    @Sendable func replaceIdentity(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("tenant")
        let identity = try Self.identity(try await Self.body(request), prefix: "")
        let info = try await services.cards.replaceIdentity(tenant: id, with: identity)
        return JSONResponse.make(.ok, Self.json(info))
    }

    /// `{"issuerId", "serviceAccount": the key file (object or string), "logoUrl"?, "origins"?}` → 200 with the
    /// settings (no key material) and how many cards were queued for their first sync.
    /// `PUT /admin/v1/tenants/{id}/rate-limit` `{"perSecond", "burst"}`: the tenant's own plan
    /// for each of its API keys (its ceiling is twice that); 200 with it.
    @Sendable func setRateLimit(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("tenant")
        let object = try await Self.body(request)
        var errors = RequestBody.unknownFields(object, allowed: ["perSecond", "burst"], of: "a rate limit")
        func number(_ name: String) -> Int64 {
            guard let value = object[name] else { errors.append(.init(name, "is required")); return 0 }
            guard case .int(let number) = value else { errors.append(.init(name, "must be an integer, found \(value.typeName)")); return 0 }
            return number
        }
        let plan = RateLimit(perSecond: number("perSecond"), burst: number("burst"))
        guard errors.isEmpty else { throw Self.invalid(errors) }
        guard let limits = services.rateLimits else {
            throw Problem(.conflict, type: "conflict", title: "Not possible in the current state", detail: "Rate limits are off (PASSLINE_API_RATE_LIMIT=off).")
        }
        try await limits.setPlan(plan, tenant: id)
        return JSONResponse.make(.ok, .object(JSONObject([("perSecond", .int(plan.perSecond)), ("burst", .int(plan.burst))])))
    }

    /// `DELETE /admin/v1/tenants/{id}/rate-limit`: back to the platform's defaults. 204.
    @Sendable func clearRateLimit(_ request: Request, context: Context) async throws -> Response {
        try await services.rateLimits?.setPlan(nil, tenant: try context.parameters.require("tenant"))
        return Response(status: .noContent)
    }

    @Sendable func setGoogle(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("tenant")
        let object = try await Self.body(request)
        var errors: [Problem.FieldError] = []
        let issuer = object["issuerId"]?.stringValue
        if issuer == nil { errors.append(.init("issuerId", "is required: the issuer id from the Google Pay & Wallet console")) }
        var keyFile: [UInt8]?
        switch object["serviceAccount"] {
        case .object(let file)?: keyFile = JSONWriter.bytes(.object(file))
        case .string(let text)?: keyFile = Array(text.utf8)
        case nil: errors.append(.init("serviceAccount", "is required: the service account's JSON key file"))
        case let other?: errors.append(.init("serviceAccount", "must be the key file as an object or a string, found \(other.typeName)"))
        }
        var logo: String?
        switch object["logoUrl"] {
        case nil, .null?: break
        case .string(let url)?: logo = url
        case let other?: errors.append(.init("logoUrl", "must be a string, found \(other.typeName)"))
        }
        var origins: [String] = []
        switch object["origins"] {
        case nil, .null?: break
        case .array(let values)? where values.allSatisfy({ $0.stringValue != nil }): origins = values.compactMap(\.stringValue)
        case let other?: errors.append(.init("origins", "must be an array of strings, found \(other.typeName)"))
        }
        guard errors.isEmpty, let issuer, let keyFile else { throw Self.invalid(errors) }
        let (info, queued) = try await services.cards.google.set(tenant: id, issuerID: issuer, serviceAccountJSON: keyFile, logoURL: logo, origins: origins)
        services.jobs.notifyCommitted()
        return JSONResponse.make(.ok, Self.json(info, queued: queued))
    }

    @Sendable func getGoogle(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("tenant")
        _ = try await services.tenants.info(tenant: id)
        guard let info = try await services.cards.google.info(tenant: id) else { throw Problem.notFound("Tenant \(id) has no Google Wallet settings.") }
        return JSONResponse.make(.ok, Self.json(info, queued: nil))
    }

    static func json(_ info: GoogleIssuers.Info, queued: Int?) -> JSONValue {
        var object = JSONObject([
            ("issuerId", .string(info.issuerId)), ("serviceAccountEmail", .string(info.serviceAccountEmail)),
            ("logoUrl", info.logoURL.map(JSONValue.string) ?? .null), ("origins", .array(info.origins.map(JSONValue.string))),
            ("pausedReason", info.pausedReason.map(JSONValue.string) ?? .null),
        ])
        if let queued { object["cardsQueued"] = .int(Int64(queued)) }
        return .object(object)
    }

    /// `{"reason"}` → 200 `{"id", "suspended": true, "reason"}`: the tenant's API answers 403 naming
    /// the reason, its staff cannot sign in, its pushes wait; issued passes are still served.
    @Sendable func suspend(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("tenant")
        let object = try await Self.body(request)
        guard case .string(let reason)? = object["reason"] else {
            throw Self.invalid([.init("reason", object["reason"] == nil ? "is required (the tenant's API answers name it)" : "must be a string")])
        }
        try await services.tenants.suspend(tenant: id, reason: reason)
        return JSONResponse.make(.ok, .object(JSONObject([("id", .string(id)), ("suspended", .bool(true)),
                                                          ("reason", .string(reason.trimmingCharacters(in: .whitespacesAndNewlines)))])))
    }

    /// Resumes a suspended tenant: 200 `{"id", "suspended": false}`; its waiting pushes go out.
    @Sendable func resume(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("tenant")
        try await services.tenants.resume(tenant: id)
        services.jobs.notifyCommitted()
        return JSONResponse.make(.ok, .object(JSONObject([("id", .string(id)), ("suspended", .bool(false))])))
    }

    /// `{"mode": "live" | "test"}` → 201 `{"key"}`, shown only now.
    /// Invites someone to the tenant's web app (its first owner, say): 201 with the one-time link.
    @Sendable func invite(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("tenant")
        let object = try await Self.body(request)
        var errors: [Problem.FieldError] = []
        func text(_ key: String, required: Bool) -> String? {
            switch object[key] {
            case .string(let value)?: return value
            case nil: if required { errors.append(.init(key, "is required")) }
            case let other?: errors.append(.init(key, "must be a string, found \(other.typeName)"))
            }
            return nil
        }
        let email = text("email", required: true), roleText = text("role", required: true), name = text("name", required: false)
        let role = roleText.flatMap(StaffRole.init(rawValue:))
        if roleText != nil && role == nil { errors.append(.init("role", "must be owner, manager or frontdesk, found \"\(roleText!)\"")) }
        guard errors.isEmpty, let email, let role else { throw Self.invalid(errors) }
        let invitation = try await services.staff.invite(tenant: id, email: email, role: role, name: name ?? "", by: .operator)
        return JSONResponse.make(.created, .object(JSONObject([
            ("id", .string(invitation.staff.id)), ("email", .string(invitation.staff.email)), ("role", .string(role.rawValue)),
            ("link", .string(invitation.link)), ("expiresAt", .string(Timestamp.format(invitation.expiresAt))),
        ])))
    }

    @Sendable func createKey(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("tenant")
        let object = try await Self.body(request)
        let mode: CardMode
        switch object["mode"] {
        case nil: mode = .live
        case .string(let text)?:
            guard let parsed = CardMode(rawValue: text) else { throw Problem.invalid("mode", "must be live or test, found \"\(text)\"") }
            mode = parsed
        case let other?: throw Problem.invalid("mode", "must be live or test, found \(JSONWriter.string(other))")
        }
        let key = try await services.tenants.createKey(tenant: id, mode: mode)
        return JSONResponse.make(.created, .object(JSONObject([("key", .string(key)), ("mode", .string(mode.rawValue))])))
    }

    /// Revokes a key named in full or by its 12-character prefix: 204.
    @Sendable func revokeKey(_ request: Request, context: Context) async throws -> Response {
        let id = try context.parameters.require("tenant"), key = try context.parameters.require("key")
        try await services.tenants.revokeKey(tenant: id, key: key)
        return Response(status: .noContent)
    }

    static func body(_ request: Request) async throws -> JSONObject {
        try await RequestBody.object(request, limit: BodyLimit.settings)
    }

    static func invalid(_ errors: [Problem.FieldError]) -> Problem { Problem.invalidFields("The request is not valid", errors) }

    /// Reads PEM text fields into a checked identity; every fault names its field.
    static func identity(_ object: JSONObject, prefix: String) throws -> PassSigningIdentity {
        var errors: [Problem.FieldError] = []
        func pem(_ key: String) -> [UInt8]? {
            switch object[key] {
            case .string(let s)? where s.contains("-----BEGIN"): return Array(s.utf8)
            case .string?: errors.append(.init(prefix + key, "must be PEM text (-----BEGIN …)"))
            case nil: errors.append(.init(prefix + key, "is required (PEM text)"))
            case let other?: errors.append(.init(prefix + key, "must be a string, found \(other.typeName)"))
            }
            return nil
        }
        let certificate = pem("certificate"), key = pem("privateKey"), intermediates = pem("intermediates")
        var passphrase: String?
        switch object["privateKeyPassphrase"] {
        case nil, .null?: break
        case .string(let s)?: passphrase = s
        case let other?: errors.append(.init(prefix + "privateKeyPassphrase", "must be a string, found \(other.typeName)"))
        }
        guard errors.isEmpty, let certificate, let key, let intermediates else { throw invalid(errors) }
        do {
            return try PassSigningIdentity.load(
                certificatePEM: certificate, keyPEM: key, keyPassphrase: passphrase, intermediatesPEM: intermediates,
                sources: .init(certificate: prefix + "certificate", key: prefix + "privateKey", intermediates: prefix + "intermediates"))
        } catch let error as PassError {
            throw Problem(.unprocessableContent, type: "invalid-identity", title: "The signing identity cannot be used", detail: error.message,
                          errors: [.init(prefix + (error.message.hasPrefix(prefix + "privateKey") ? "privateKey" : "certificate"), error.message)])
        }
    }

    /// A tenant as both APIs show it: certificate expiry and the state of its pushes.
    static func json(_ info: Tenants.Info) -> JSONValue {
        .object(JSONObject([
            ("id", .string(info.id)), ("name", .string(info.name)), ("passTypeIdentifier", .string(info.passTypeIdentifier)),
            ("teamIdentifier", .string(info.teamIdentifier)),
            ("certificate", .object(JSONObject([
                ("expiresAt", .string(HTTPDate.iso8601(info.certificateNotAfter))), ("daysToExpiry", .int(info.daysToExpiry)),
                ("fingerprintSHA256", .string(info.certificateFingerprint)),
            ]))),
            ("pushes", .object(JSONObject([("paused", .bool(info.pushPausedReason != nil)), ("reason", info.pushPausedReason.map(JSONValue.string) ?? .null)]))),
            ("suspended", .object(JSONObject([("suspended", .bool(info.suspendedReason != nil)), ("reason", info.suspendedReason.map(JSONValue.string) ?? .null)]))),
        ]))
    }
}

/// The operator's token, checked once for every route under /admin/v1. Without a token
/// configured the whole API answers 404.
struct AdminTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else {
            throw Problem.notFound("The admin API is off; set PASSLINE_ADMIN_TOKEN to turn it on.")
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              ConstantTime.equal(Array(header.utf8.dropFirst(7)), Array(token.utf8)) else {
            throw Problem.unauthorized("The admin API needs Authorization: Bearer <PASSLINE_ADMIN_TOKEN>.")
        }
        return try await next(request, context)
    }
}
