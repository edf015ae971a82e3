import Foundation
import Hummingbird
import PasslineJSON
import PasslineService

/// Apple's Wallet pass web service, under each tenant's `webServiceURL`
/// (`<public URL>/passkit/<tenant id>`), with the paths and status codes Apple gives. It checks
/// the shape of what Wallet sends; `WalletDevices` does the rest.
struct PassWebService<Context: ApplePassRequestContext>: Sendable {
    let devices: WalletDevices
    /// Where a sign-up's new version enqueues its pushes.
    let jobs: WorkQueue
    /// The log endpoint needs no authentication, so it is rate-limited per tenant.
    let logLimiter: RateLimiter
    /// Registrations per source address: one phone registers a few cards, not thousands.
    let registrationLimiter: RateLimiter
    let publicLimits: PublicLimits

    func addRoutes(to router: Router<Context>) {
        // The routes of one pass (with a serial number) are authenticated by the middleware, once.
        let service = router.group("passkit/:tenant/v1")
            .add(middleware: ApplePassMiddleware<Context>(devices: devices, registrationLimiter: registrationLimiter, publicLimits: publicLimits))
        // The parameter names are Apple's, as the OpenAPI document has them.
        service.post("devices/:deviceLibraryIdentifier/registrations/:passTypeIdentifier/:serialNumber", use: register)
        service.get("devices/:deviceLibraryIdentifier/registrations/:passTypeIdentifier", use: updatedSerials)
        service.delete("devices/:deviceLibraryIdentifier/registrations/:passTypeIdentifier/:serialNumber", use: unregister)
        service.post("log", use: log)
        service.get("passes/:passTypeIdentifier/:serialNumber", use: latestPass)
        service.post("passes/:passTypeIdentifier/:serialNumber/personalize", use: personalize)
    }

    /// Apple's rewards enrollment: `{"personalizationToken", "requiredPersonalizationInfo":
    /// {"fullName"?, "givenName"?, "familyName"?, "emailAddress"?, "phoneNumber"?, "postalCode"?,
    /// "ISOCountryCode"?}}`; 200 with the token signed (detached PKCS #7, the pass certificate),
    /// after which Wallet fetches the personalized pass. 404 for a pass that offers no sign-up.
    @Sendable func personalize(_ request: Request, context: Context) async throws -> Response {
        let card = try context.holder().card
        let json = try await RequestBody.json(request, limit: BodyLimit.small)
        // Whatever comes here is signed with the tenant's pass certificate, so only a token's
        // alphabet is taken (base64, hex, URL-safe): never a manifest, which is JSON, whose
        // signature would make a forged pass look like the tenant's.
        guard case .string(let token)? = json["personalizationToken"], (1...4_096).contains(token.utf8.count),
              token.utf8.allSatisfy({ AppleIdentifier.isTokenByte($0) }) else {
            throw Problem.invalid("personalizationToken", json["personalizationToken"] == nil ? "is required"
                                  : "must be 1 to 4096 characters of A-Z, a-z, 0-9 and + / = - _ . :")
        }
        guard case .object(let info)? = json["requiredPersonalizationInfo"] else {
            throw Problem.invalid("requiredPersonalizationInfo", json["requiredPersonalizationInfo"] == nil ? "is required" : "must be an object")
        }
        func text(_ key: String) throws -> String? {
            switch info[key] {
            case nil, .null?: return nil
            case .string(let value)? where value.count <= 256 && !value.utf8.contains(0): return value
            case .string?: throw Problem.invalid("requiredPersonalizationInfo.\(key)", "must be at most 256 characters, without NUL")
            case let other?: throw Problem.invalid("requiredPersonalizationInfo.\(key)", "must be a string, found \(other.typeName)")
            }
        }
        let signUp = WalletDevices.SignUp(fullName: try text("fullName"), givenName: try text("givenName"), familyName: try text("familyName"),
                                          emailAddress: try text("emailAddress"), phoneNumber: try text("phoneNumber"),
                                          postalCode: try text("postalCode"), countryCode: try text("ISOCountryCode"))
        let signed = try await devices.personalize(card, signUp: signUp, token: token, jobs: jobs)
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: signed)))
    }

    /// The latest version of a pass: 200 with the signed pass and `Last-Modified`, 304 when it has
    /// not changed since `If-Modified-Since` (nothing built), 401 on a wrong token.
    @Sendable func latestPass(_ request: Request, context: Context) async throws -> Response {
        let card = try context.holder().card
        return try await PassDownload.response(for: card, request: request) { try await devices.latestPass(of: card) }
    }

    /// Register a device to receive push notifications for a pass: 201 when new, 200 when it was
    /// registered already (the push token is replaced: tokens rotate), 401 on a wrong token.
    @Sendable func register(_ request: Request, context: Context) async throws -> Response {
        let holder = try context.holder()
        let device = try AppleIdentifier.device(context.parameters.require("deviceLibraryIdentifier"))
        let json = try await RequestBody.json(request, limit: BodyLimit.small)
        guard case .string(let pushToken)? = json["pushToken"] else {
            throw Problem.invalid("pushToken", json["pushToken"] == nil ? "is required" : "must be a string, found \(json["pushToken"]!.typeName)")
        }
        // APNs device tokens are hexadecimal (32 bytes today; Apple asks not to rely on the length).
        guard (1...200).contains(pushToken.utf8.count), pushToken.utf8.allSatisfy(AppleIdentifier.isHexDigit) else {
            throw Problem.invalid("pushToken", "must be 1 to 200 hexadecimal characters, as APNs issues device tokens")
        }
        let created = try await devices.register(device: device, pushToken: pushToken, for: holder.card, passType: holder.passType)
        return Response(status: created ? .created : .ok)
    }

    /// The serial numbers of a device's passes of a type that changed since a tag: 200 with
    /// `serialNumbers` and `lastUpdated` (a string: an integer stops updates on iPhones), or 204.
    /// No ApplePass header comes with this call; the device library id is the secret.
    @Sendable func updatedSerials(_ request: Request, context: Context) async throws -> Response {
        let tenant = try context.parameters.require("tenant")
        let device = try AppleIdentifier.device(context.parameters.require("deviceLibraryIdentifier"))
        let passType = try AppleIdentifier.passType(context.parameters.require("passTypeIdentifier"))
        var since: Int64?
        if let value = request.uri.queryParameters["passesUpdatedSince"], !value.isEmpty {
            guard value.utf8.count <= 19, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let tag = Int64(value) else {
                throw Problem.invalidParameter("passesUpdatedSince", "must be a tag this service returned as lastUpdated, found \"\(value)\"")
            }
            since = tag
        }
        guard let answer = try await devices.serialsUpdated(tenant: tenant, device: device, passType: passType, since: since) else {
            return Response(status: .noContent)
        }
        return JSONResponse.make(.ok, .object(JSONObject([
            ("serialNumbers", .array(answer.serialNumbers.map(JSONValue.string))), ("lastUpdated", .string(String(answer.lastUpdated))),
        ])))
    }

    /// Unregister a device from a pass: 200; 401 on a wrong token.
    @Sendable func unregister(_ request: Request, context: Context) async throws -> Response {
        let holder = try context.holder()
        let device = try AppleIdentifier.device(context.parameters.require("deviceLibraryIdentifier"))
        try await devices.unregister(device: device, from: holder.card, passType: holder.passType)
        return Response(status: .ok)
    }

    /// Messages devices send about problems with a tenant's passes; kept (bounded) for the tenant.
    @Sendable func log(_ request: Request, context: Context) async throws -> Response {
        let tenant = try context.parameters.require("tenant")
        if let wait = logLimiter.take(tenant) {
            throw Problem.rateLimited("Too many log requests", detail: "This tenant's devices sent too many log requests; try again in \(wait) s.", retryAfter: wait)
        }
        let json = try await RequestBody.json(request, limit: 64 * 1024)
        guard let logs = json["logs"]?.arrayValue else { throw Problem.invalid("logs", "is required and must be an array of strings") }
        let messages = logs.prefix(100).compactMap(\.stringValue).map { String($0.prefix(2000)).replacingOccurrences(of: "\u{0}", with: "") }
        try await devices.log(tenant: tenant, messages: messages)
        return Response(status: .ok)
    }
}

/// Checks `Authorization: ApplePass <token>` once for every route of one pass (those with a
/// serial number in the path): the token must be the card's, the pass type the tenant's.
/// Unknown cards get the same 401 as wrong tokens, so the answer does not reveal which serials
/// exist. Registrations are rate limited per source address before any look-up.
struct ApplePassMiddleware<Context: ApplePassRequestContext>: RouterMiddleware {
    let devices: WalletDevices
    let registrationLimiter: RateLimiter
    let publicLimits: PublicLimits

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let rawSerial = context.parameters.get("serialNumber") else {
            try publicLimits.check(source: context.remoteIP, card: nil)
            return try await next(request, context)
        }
        let tenant = try context.parameters.require("tenant")
        try publicLimits.check(source: context.remoteIP, card: "\(tenant):\(rawSerial)")
        let passType = try AppleIdentifier.passType(context.parameters.require("passTypeIdentifier"))
        let serial = try AppleIdentifier.serial(rawSerial)
        if let device = context.parameters.get("deviceLibraryIdentifier") { _ = try AppleIdentifier.device(device) }
        if request.method == .post, let wait = registrationLimiter.take(context.remoteIP ?? "unknown") {
            throw Problem.rateLimited("Too many registrations", detail: "This address registered too many devices; the limit is \(registrationLimiter.burst.formatted()) at once, then \((registrationLimiter.perSecond * 60).formatted()) a minute. Try again in \(wait) s.", retryAfter: wait)
        }
        let header = request.headers[.authorization] ?? ""
        // Wallet's sign-up post carries its personalization token, not the pass's: a card not
        // yet signed up may be signed up without the header (once; the handler keeps it so).
        let signUp = request.method == .post && request.uri.path.hasSuffix("/personalize") && request.headers[.authorization] == nil
        guard signUp || header.hasPrefix("ApplePass ") else { throw Problem.unauthorized("An Authorization: ApplePass <token> header is required.") }
        guard let card = try await devices.holder(tenant: tenant, passType: passType, serial: serial, token: signUp ? nil : String(header.dropFirst("ApplePass ".count))) else {
            throw signUp ? Problem.notFound("No such pass.") : Problem.unauthorized("The pass's authentication token does not match.")
        }
        var context = context
        context.applePass = ApplePassHolder(card: card, passType: passType)
        return try await next(request, context)
    }
}

/// What Apple's devices put in the web service's paths and bodies, checked before any look-up:
/// anything else never came from Wallet, and gets a 400 naming the part at fault.
enum AppleIdentifier {
    static func isTokenByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || "+/=-_.:".utf8.contains(byte)
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }

    private static func isWord(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F || byte == 0x2E
    }

    /// The device library identifier: an opaque id Wallet makes, letters, digits, '-', '_', '.'.
    static func device(_ text: String) throws -> String {
        guard (1...256).contains(text.utf8.count), text.utf8.allSatisfy(isWord) else {
            throw Problem.invalidParameter("deviceLibraryIdentifier", "must be 1 to 256 letters, digits, '-', '_' or '.'")
        }
        return text
    }

    /// A pass type identifier, reverse-DNS as Apple issues them (`pass.com.example.loyalty`).
    static func passType(_ text: String) throws -> String {
        guard (1...255).contains(text.utf8.count), text.utf8.allSatisfy(isWord) else {
            throw Problem.invalidParameter("passTypeIdentifier", "must be 1 to 255 letters, digits, '-', '_' or '.' (reverse-DNS, as Apple issues it)")
        }
        return text
    }

    /// A serial number as this service issues them.
    static func serial(_ text: String) throws -> String {
        guard (1...128).contains(text.utf8.count), text.utf8.allSatisfy(isWord) else {
            throw Problem.invalidParameter("serialNumber", "must be 1 to 128 letters, digits, '-', '_' or '.'")
        }
        return text
    }
}
