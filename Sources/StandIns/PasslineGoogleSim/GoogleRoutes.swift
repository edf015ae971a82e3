import Foundation
import GoogleWallet
import Hummingbird
import PasslineCrypto
import PasslineJSON

/// The stand-in's routes: `POST /token` and the loyalty class and object resources.
struct GoogleRoutes: Sendable {
    let holder: SimulatorHolder

    func add(to router: Router<BasicRequestContext>) {
        router.post("token") { request, _ in try await token(request) }
        router.get("gp/m/issuer/keys") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=3600"],
                     body: .init(byteBuffer: ByteBuffer(bytes: try simulator.keyList())))
        }
        let api = router.group("walletobjects/v1")
        for kind in [Kind.loyaltyClass, .loyaltyObject] {
            api.post(RouterPath(stringLiteral: kind.rawValue)) { request, _ in try await call(request, kind: kind, id: nil) }
            api.get(RouterPath(stringLiteral: kind.rawValue)) { request, _ in try await call(request, kind: kind, id: nil) }
            api.post(RouterPath(stringLiteral: "\(kind.rawValue)/:id/addMessage")) { request, context in
                try await call(request, kind: kind, id: try context.parameters.require("id"), addMessage: true)
            }
            for method in [HTTPRequest.Method.get, .put, .patch] {
                api.on(RouterPath(stringLiteral: "\(kind.rawValue)/:id"), method: method) { request, context in
                    try await call(request, kind: kind, id: try context.parameters.require("id"))
                }
            }
        }
    }

    enum Kind: String, Sendable { case loyaltyClass, loyaltyObject }

    private var simulator: GoogleWalletSimulator { holder.value }

    // MARK: OAuth

    private func token(_ request: Request) async throws -> Response {
        let body = String(decoding: Array(buffer: try await request.body.collect(upTo: 65_536)), as: UTF8.self)
        var form: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if parts.count == 2 { form[parts[0]] = parts[1] }
        }
        func refuse(_ error: String, _ description: String) -> Response {
            Self.json(.badRequest, .object(JSONObject([("error", .string(error)), ("error_description", .string(description))])))
        }
        guard form["grant_type"] == TokenGrant.grantType else { return refuse("unsupported_grant_type", "Invalid grant_type: \(form["grant_type"] ?? "")") }
        guard let assertion = form["assertion"] else { return refuse("invalid_request", "Missing required parameter: assertion") }
        // Claims first, unverified, to find the account whose key must have signed them.
        let parts = assertion.split(separator: ".")
        guard parts.count == 3, let claimBytes = Base64URL.decode(String(parts[1])), case .object(let unverified)? = try? JSONParser.parse(claimBytes),
              let email = unverified["iss"]?.stringValue else {
            return refuse("invalid_grant", "Invalid JWT: malformed assertion.")
        }
        guard let key = simulator.state.withLock({ $0.accounts[email]?.publicKey }) else {
            return refuse("invalid_grant", "Invalid grant: account not found")
        }
        guard let verified = try? JWT.verifyRS256(assertion, key: key) else { return refuse("invalid_grant", "Invalid JWT Signature.") }
        let claims = verified.claims
        let now = Date().timeIntervalSince1970
        guard let iat = claims["iat"]?.intValue, let exp = claims["exp"]?.intValue else { return refuse("invalid_grant", "Invalid JWT: iat and exp are required.") }
        guard exp > iat, exp - iat <= 3600 else { return refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.") }
        guard Double(exp) > now, Double(iat) <= now + 300 else { return refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values.") }
        guard claims["aud"]?.stringValue == simulator.tokenURL else {
            return refuse("invalid_grant", "Invalid JWT: aud must be the token endpoint \(simulator.tokenURL).")
        }
        guard (claims["scope"]?.stringValue ?? "").split(separator: " ").contains(Substring(TokenGrant.scope)) else {
            return refuse("invalid_scope", "The scope \(TokenGrant.scope) is required.")
        }
        let token = "ya29.sim-" + SecureRandom.token(length: 40)
        let lifetime = simulator.state.withLock { state -> Int in
            state.tokens[token] = (email, now + Double(state.behaviour.tokenLifetimeSeconds))
            state.tokensIssued += 1
            return state.behaviour.tokenLifetimeSeconds
        }
        return Self.json(.ok, .object(JSONObject([
            ("access_token", .string(token)), ("expires_in", .int(Int64(lifetime))), ("token_type", .string("Bearer")),
        ])))
    }

    // MARK: Wallet Objects

    private func call(_ request: Request, kind: Kind, id: String?, addMessage: Bool = false) async throws -> Response {
        let bytes = Array(buffer: try await request.body.collect(upTo: 1 << 20))
        let response = handle(request, bytes: bytes, kind: kind, id: id, addMessage: addMessage)
        simulator.state.withLock {
            $0.calls.append(.init(method: request.method.rawValue, path: request.uri.path, body: String(decoding: bytes, as: UTF8.self),
                                  status: Int(response.status.code)))
        }
        return response
    }

    private func handle(_ request: Request, bytes: [UInt8], kind: Kind, id: String?, addMessage: Bool) -> Response {
        let now = Date().timeIntervalSince1970
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            return Self.error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.")
        }
        let token = String(header.dropFirst("Bearer ".count))
        let email = simulator.state.withLock { state in state.tokens[token].flatMap { $0.expires > now ? $0.email : nil } }
        guard let email else { return Self.error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.") }
        // Failures spread evenly, not at random: call k fails when floor(k * rate) steps up, so a
        // rate of 0.5 fails every second call and a test sees the same run every time.
        let failure = simulator.state.withLock { state -> Int? in
            guard state.behaviour.failureRate > 0 else { return nil }
            state.apiCalls += 1
            let rate = state.behaviour.failureRate, k = Double(state.apiCalls)
            guard (k * rate).rounded(.down) > ((k - 1) * rate).rounded(.down) else { return nil }
            state.failures += 1
            return state.failures
        }
        if let failure {
            return failure % 2 == 1 ? Self.error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.") : Self.error(503, "UNAVAILABLE", "The service is currently unavailable.")
        }
        let issuers = simulator.state.withLock { $0.accounts[email]?.issuers ?? [] }

        if request.method == .get, id == nil {
            guard let issuer = request.uri.queryParameters.get("issuerId") else { return Self.error(400, "INVALID_ARGUMENT", "issuerId is required.") }
            guard issuers.contains(issuer) else { return Self.permissionDenied() }
            let resources = simulator.state.withLock { state in
                (kind == .loyaltyClass ? state.classes : state.objects).filter { $0.key.hasPrefix(issuer + ".") }.map(\.value)
            }
            return Self.json(.ok, .object(JSONObject([("resources", .array(resources.map(JSONValue.object)))])))
        }

        var body: JSONObject?
        if request.method != .get {
            guard case .object(let parsed)? = try? JSONParser.parse(bytes) else { return Self.error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") }
            body = parsed
        }
        if addMessage { return self.addMessage(body!, to: id!, kind: kind, issuers: issuers) }
        guard let resourceID = id ?? body?["id"]?.stringValue else { return Self.error(400, "INVALID_ARGUMENT", "Resource id is required.") }
        let issuer = String(resourceID.prefix { $0 != "." })
        guard issuers.contains(issuer) else { return Self.permissionDenied() }
        guard WalletIDs.isValid(resourceID, issuer: issuer) else {
            return Self.error(400, "INVALID_ARGUMENT", "Invalid resource id \(resourceID): use the issuer id, a dot, and letters, digits, '.', '_' or '-'.")
        }

        return simulator.state.withLock { state -> Response in
            var store = kind == .loyaltyClass ? state.classes : state.objects
            defer { if kind == .loyaltyClass { state.classes = store } else { state.objects = store } }
            let existing = store[resourceID]
            switch request.method {
            case .get:
                guard let existing else { return Self.error(404, "NOT_FOUND", "Resource \(resourceID) not found.") }
                return Self.json(.ok, .object(existing))
            case .post:
                if existing != nil { return Self.error(409, "ALREADY_EXISTS", "Resource \(resourceID) already exists.") }
                if let problem = Self.check(body!, kind: kind, classes: state.classes) { return Self.error(400, "INVALID_ARGUMENT", problem) }
                store[resourceID] = body!
                return Self.json(.ok, .object(body!))
            case .put:
                guard existing != nil else { return Self.error(404, "NOT_FOUND", "Resource \(resourceID) not found.") }
                if let problem = Self.check(body!, kind: kind, classes: state.classes) { return Self.error(400, "INVALID_ARGUMENT", problem) }
                store[resourceID] = body!
                return Self.json(.ok, .object(body!))
            default: // PATCH: the fields given replace those stored.
                guard var merged = existing else { return Self.error(404, "NOT_FOUND", "Resource \(resourceID) not found.") }
                for (key, value) in body!.members { merged[key] = value }
                if let problem = Self.check(merged, kind: kind, classes: state.classes) { return Self.error(400, "INVALID_ARGUMENT", problem) }
                store[resourceID] = merged
                return Self.json(.ok, .object(merged))
            }
        }
    }

    /// `…/{id}/addMessage`: appends `message` to the resource's messages, and as
    /// `TEXT_AND_NOTIFY` notifies its holders, at most three times in 24 hours (Google answers
    /// the fourth with a quota error).
    private func addMessage(_ body: JSONObject, to resourceID: String, kind: Kind, issuers: Set<String>) -> Response {
        guard issuers.contains(String(resourceID.prefix { $0 != "." })) else { return Self.permissionDenied() }
        guard let message = body["message"]?.objectValue else { return Self.error(400, "INVALID_ARGUMENT", "message is required.") }
        for field in ["header", "body"] where message[field]?.stringValue?.isEmpty != false {
            return Self.error(400, "INVALID_ARGUMENT", "message.\(field) is required.")
        }
        let type = message["messageType"]?.stringValue ?? "TEXT"
        guard ["TEXT", "TEXT_AND_NOTIFY"].contains(type) else { return Self.error(400, "INVALID_ARGUMENT", "messageType \(type) is not a MessageType value.") }
        let now = Date().timeIntervalSince1970
        return simulator.state.withLock { state -> Response in
            var store = kind == .loyaltyClass ? state.classes : state.objects
            guard var resource = store[resourceID] else { return Self.error(404, "NOT_FOUND", "Resource \(resourceID) not found.") }
            if type == "TEXT_AND_NOTIFY" {
                let recent = (state.notified[resourceID] ?? []).filter { $0 > now - 86_400 }
                guard recent.count < 3 else {
                    return Self.error(429, "RESOURCE_EXHAUSTED", "QuotaExceededException: at most 3 notifying messages per pass in 24 hours; send TEXT instead.")
                }
                state.notified[resourceID] = recent + [now]
            }
            resource["messages"] = .array((resource["messages"]?.arrayValue ?? []) + [.object(message)])
            store[resourceID] = resource
            if kind == .loyaltyClass { state.classes = store } else { state.objects = store }
            return Self.json(.ok, .object(JSONObject([("resource", .object(resource))])))
        }
    }

    /// The required fields and value types Google's reference gives; nil when the resource passes.
    static func check(_ resource: JSONObject, kind: Kind, classes: [String: JSONObject]) -> String? {
        if let problem = checkLocalized(.object(resource), path: "") { return problem }
        switch kind {
        case .loyaltyClass:
            for field in ["id", "issuerName", "reviewStatus"] where resource[field]?.stringValue == nil { return "\(field) is required and must be a string." }
            guard ["UNDER_REVIEW", "APPROVED", "DRAFT", "underReview", "approved", "draft"].contains(resource["reviewStatus"]!.stringValue!) else {
                return "reviewStatus must be UNDER_REVIEW, APPROVED or DRAFT."
            }
            // Google fetches the logo from the internet, so it must be https; a stand-in on
            // loopback also takes the local demo's http://127.0.0.1 and http://localhost links.
            let logo = resource["programLogo"]?["sourceUri"]?["uri"]?.stringValue ?? ""
            guard logo.hasPrefix("https://") || logo.hasPrefix("http://127.0.0.1") || logo.hasPrefix("http://localhost") else {
                return "programLogo.sourceUri.uri must be a public https URL."
            }
            if let hero = resource["heroImage"] {
                let uri = hero["sourceUri"]?["uri"]?.stringValue ?? ""
                guard uri.hasPrefix("https://") || uri.hasPrefix("http://127.0.0.1") || uri.hasPrefix("http://localhost") else {
                    return "heroImage.sourceUri.uri must be a public https URL."
                }
            }
            if let color = resource["hexBackgroundColor"]?.stringValue, !(color.count == 7 && color.hasPrefix("#")) { return "hexBackgroundColor must be #rrggbb." }
        case .loyaltyObject:
            for field in ["id", "classId", "state"] where resource[field]?.stringValue == nil { return "\(field) is required and must be a string." }
            guard let loyaltyClass = classes[resource["classId"]!.stringValue!] else { return "The class \(resource["classId"]!.stringValue!) does not exist." }
            guard loyaltyClass["reviewStatus"]?.stringValue?.uppercased() != "DRAFT" else { return "A class in DRAFT cannot hold objects." }
            guard ["ACTIVE", "INACTIVE", "EXPIRED", "COMPLETED", "active", "inactive", "expired", "completed"].contains(resource["state"]!.stringValue!) else {
                return "state must be ACTIVE, INACTIVE, EXPIRED or COMPLETED."
            }
            if let points = resource["loyaltyPoints"] {
                guard let balance = points["balance"]?.objectValue, balance.count == 1,
                      balance["int"]?.intValue != nil || balance["string"]?.stringValue != nil || balance["double"]?.isNumber == true || balance["money"] != nil else {
                    return "loyaltyPoints.balance must hold exactly one of int, string, double or money."
                }
            }
            if let barcode = resource["barcode"], barcode["type"]?.stringValue == nil || barcode["value"]?.stringValue == nil {
                return "barcode needs a type and a value."
            }
            if let preference = resource["notifyPreference"]?.stringValue, !["notifyOnUpdate", "NOTIFY_ON_UPDATE", "NOTIFICATION_SETTINGS_FOR_UPDATES_UNSPECIFIED"].contains(preference) {
                return "notifyPreference \(preference) is not a NotificationSettingsForUpdates value."
            }
            if let places = resource["merchantLocations"] {
                guard let list = places.arrayValue, list.count <= 10 else { return "merchantLocations must be a list of at most 10 MerchantLocation." }
                for place in list {
                    func degrees(_ key: String) -> Double? {
                        switch place[key] { case .int(let i)?: Double(i); case .double(let d)?: d; default: nil }
                    }
                    guard let latitude = degrees("latitude"), (-90...90).contains(latitude) else { return "merchantLocations.latitude must be -90.0 through +90.0." }
                    guard let longitude = degrees("longitude"), (-180...180).contains(longitude) else { return "merchantLocations.longitude must be -180.0 through +180.0." }
                }
            }
            if let interval = resource["validTimeInterval"] {
                for side in ["start", "end"] {
                    guard let date = interval[side] else { continue }
                    guard let text = date["date"]?.stringValue, ISO8601DateFormatter().date(from: text) != nil else {
                        return "validTimeInterval.\(side).date must be an ISO 8601 extended date and time."
                    }
                }
            }
            for message in resource["messages"]?.arrayValue ?? [] {
                if let type = message["messageType"]?.stringValue, !["TEXT", "TEXT_AND_NOTIFY", "EXPIRATION_NOTIFICATION"].contains(type) {
                    return "messageType \(type) is not a MessageType value."
                }
            }
        }
        return nil
    }

    /// Every `localized…` field is a `LocalizedString`: a `defaultValue` and any
    /// `translatedValues`, each a `TranslatedString` with a language and a value.
    static func checkLocalized(_ value: JSONValue, path: String) -> String? {
        switch value {
        case .object(let object):
            for member in object.members {
                let here = path.isEmpty ? member.key : "\(path).\(member.key)"
                if member.key.hasPrefix("localized") && member.key != "localizedSpecificId" {
                    guard case .object(let localized) = member.value else { return "\(here) must be a LocalizedString object." }
                    for key in localized.keys where !["defaultValue", "translatedValues", "kind"].contains(key) { return "\(here).\(key) is not a LocalizedString field." }
                    let translated = localized["translatedValues"]?.arrayValue ?? []
                    for entry in (localized["defaultValue"].map { [$0] } ?? []) + translated {
                        guard entry["language"]?.stringValue?.isEmpty == false, entry["value"]?.stringValue != nil else {
                            return "\(here): each TranslatedString needs a language and a value."
                        }
                    }
                    if localized["defaultValue"] == nil && translated.isEmpty { return "\(here) has no value." }
                } else if let problem = checkLocalized(member.value, path: here) {
                    return problem
                }
            }
        case .array(let items):
            for (index, item) in items.enumerated() { if let problem = checkLocalized(item, path: "\(path)[\(index)]") { return problem } }
        default: break
        }
        return nil
    }

    static func permissionDenied() -> Response {
        error(403, "PERMISSION_DENIED", "The caller does not have permission")
    }

    static func error(_ code: Int, _ status: String, _ message: String) -> Response {
        json(HTTPResponse.Status(code: code), .object(JSONObject([("error", .object(JSONObject([
            ("code", .int(Int64(code))), ("message", .string(message)), ("status", .string(status)),
        ])))])))
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=UTF-8"], body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(value))))
    }
}
