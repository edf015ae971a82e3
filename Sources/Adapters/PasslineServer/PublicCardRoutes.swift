import ApplePass
import Hummingbird
import PasslineService
import PasslineWebApp

/// What a customer opens without any key: `/c/{publicToken}` (the card's page), its pass and its
/// images. The token is unguessable and is not the serial, so these links can go in emails.
struct PublicCardRoutes<Context: SourceAwareRequestContext>: Sendable {
    let cards: Cards
    let branding: TenantBranding
    let badges: WalletBadges
    let googleSaveURL: (@Sendable (Cards.Card) async throws -> String)?
    let limits: PublicLimits

    func addRoutes(to router: Router<Context>) {
        let card = router.group("c").add(middleware: PublicLimitMiddleware<Context>(limits: limits, cardParameter: "token"))
        card.get(":token", use: page)
        card.get(":token/google", use: google)
        card.get(":token/pass.pkpass", use: pass)
        card.get(":token/logo.png", use: image)
        card.get(":token/strip.png", use: image)
        card.get(":token/brand.png", use: brandLogo)
        router.get("badges/:file", use: badge)
        router.group("t").add(middleware: PublicLimitMiddleware<Context>(limits: limits, cardParameter: "template")).get(":template/logo.png", use: templateLogo)
        router.group("t").add(middleware: PublicLimitMiddleware<Context>(limits: limits, cardParameter: "template")).get(":template/hero.png", use: templateLogo)
    }

    @Sendable func pass(_ request: Request, context: Context) async throws -> Response {
        let card = try await cards.get(publicToken: try context.parameters.require("token"))
        return try await PassDownload.response(for: card, request: request) { try await cards.pass(card) }
    }

    /// "Save to Google Wallet": the object is made sure of through Google's API, then the visitor
    /// goes on to Google with a short JWT that references it.
    @Sendable func google(_ request: Request, context: Context) async throws -> Response {
        let token = try context.parameters.require("token")
        guard let card = try? await cards.get(publicToken: token) else {
            return Self.html(.notFound, CardPage.notFoundHTML(), headers: [.cacheControl: "no-store"])
        }
        guard let googleSaveURL, try await cards.googleSaveLink(card) != nil else {
            throw Problem.notFound("This card is not offered in Google Wallet.")
        }
        do {
            let url = try await googleSaveURL(card)
            return Response(status: .found, headers: [.location: url, .cacheControl: "no-store"])
        } catch {
            // The reason (a service account, a pause reason, Google's own words) is the
            // business's to read, not a visitor's: it goes to the log.
            context.logger.warning("Google Wallet save link failed", metadata: ["tenant.id": .string(card.tenant), "error.message": .string("\(error)")])
            var problem = Problem(.serviceUnavailable, type: "google-unavailable", title: "Google Wallet cannot take the card right now",
                                  detail: "Try again in a few minutes; the Apple Wallet pass works meanwhile.")
            problem.headers[.retryAfter] = "60"
            throw problem
        }
    }

    /// A template's logo or hero image, public: Google Wallet fetches them from a URL itself.
    @Sendable func templateLogo(_ request: Request, context: Context) async throws -> Response {
        let template = try context.parameters.require("template")
        let hero = request.uri.path.hasSuffix("/hero.png")
        guard let bytes = try await (hero ? cards.templates.hero(templateID: template) : cards.templates.logo(templateID: template)) else {
            throw Problem.notFound("No \(hero ? "hero image" : "logo") for template \(template).")
        }
        return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "public, max-age=3600"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    @Sendable func page(_ request: Request, context: Context) async throws -> Response {
        let token = try context.parameters.require("token")
        guard let card = try? await cards.get(publicToken: token) else {
            return Self.html(.notFound, CardPage.notFoundHTML(), headers: [.cacheControl: "no-store"])
        }
        let pass = try await cards.pass(card)
        let languages = PassPreview.languages(acceptLanguage: request.headers[.acceptLanguage])
        let preview = try PassPreview(pkpass: pass, languages: languages)
        let platform = CardPage.Platform(userAgent: request.headers[.userAgent])
        let look = try await branding.look(tenant: card.tenant)
        // The page changes with the card's version, the business's look, the visitor's platform
        // (button order) and language.
        let etag = "W/\"\(card.version)-\(look.version)-\(platform)-\(preview.language ?? "none")\""
        let headers: HTTPFields = [
            .eTag: etag,
            // Personal data behind a secret link: browsers revalidate, shared caches keep nothing.
            .cacheControl: "private, no-cache",
            .vary: "User-Agent, Accept-Language",
        ]
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag }) {
            return Response(status: .notModified, headers: headers)
        }
        var offersGoogle = false
        if googleSaveURL != nil { offersGoogle = (try? await cards.googleSaveLink(card)) != nil }
        // Read from the same opening of the pass as the preview: one zip parse a page view.
        let hasLogo = preview.fileNames.contains("logo.png"), hasStrip = preview.fileNames.contains("strip.png")
        // Relative links: the page works under whatever host and prefix it was reached through.
        let page = CardPage(
            preview: preview, applePassURL: "\(token)/pass.pkpass", googleSaveURL: offersGoogle ? "\(token)/google" : nil,
            pageURL: cards.pageLink(card),
            logoPath: hasLogo ? "\(token)/logo.png?v=\(card.version)" : nil, stripPath: hasStrip ? "\(token)/strip.png?v=\(card.version)" : nil,
            platform: platform,
            badges: .init(apple: badges.apple.map { "../badges/\($0.file)" }, google: badges.google.map { "../badges/\($0.file)" }),
            brand: look.isChosen ? CardPage.Brand(name: look.name, background: look.colors.background, text: look.colors.text,
                                                  logoPath: look.hasLogo ? "\(token)/brand.png?v=\(look.version)" : nil) : nil
        )
        return Self.html(.ok, page.html(), headers: headers)
    }

    /// The pass's own logo or strip, at the best resolution it has up to @2x.
    @Sendable func image(_ request: Request, context: Context) async throws -> Response {
        let card = try await cards.get(publicToken: try context.parameters.require("token"))
        let base = request.uri.path.hasSuffix("/strip.png") ? "strip" : "logo"
        let pass = try await cards.pass(card)
        guard let bytes = try PassPreview.file("\(base)@2x.png", in: pass) ?? PassPreview.file("\(base).png", in: pass) else {
            throw Problem.notFound("This card's pass has no \(base) image.")
        }
        // The page links each version's images under their own URL, so they can be cached for long.
        return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "public, max-age=86400"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// An official wallet badge the operator provided.
    @Sendable func badge(_ request: Request, context: Context) async throws -> Response {
        guard let badge = badges.badge(file: try context.parameters.require("file")) else { throw Problem.notFound("No such badge.") }
        return Response(status: .ok, headers: [.contentType: badge.contentType, .cacheControl: "public, max-age=86400", .xContentTypeOptions: "nosniff",
                                               .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'"],
                        body: .init(byteBuffer: ByteBuffer(bytes: badge.bytes)))
    }

    /// The business's own logo, for the bar above the card.
    @Sendable func brandLogo(_ request: Request, context: Context) async throws -> Response {
        let card = try await cards.get(publicToken: try context.parameters.require("token"))
        guard let bytes = try await branding.logo(tenant: card.tenant) else { throw Problem.notFound("This business has no logo.") }
        // The page links each version of the logo under its own URL.
        return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "public, max-age=86400", .xContentTypeOptions: "nosniff"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func html(_ status: HTTPResponse.Status, _ text: String, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy: "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            .init("Referrer-Policy")!: "no-referrer",
            .init("X-Robots-Tag")!: "noindex, nofollow",
            .xContentTypeOptions: "nosniff",
        ]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
