import Foundation
import Hummingbird
import PasslineWebApp
import Logging
import PasslineCrypto
import PasslineService

/// What a process counts in memory (its workers' figures), added to `/metrics`.
public struct ProcessMetrics: Sendable {
    let render: @Sendable () -> String
    /// `render` returns lines in Prometheus' text format.
    public init(_ render: @escaping @Sendable () -> String) { self.render = render }
    public static let none = ProcessMetrics { "" }
}

/// The HTTP routes, thin: a middleware authenticates each plane once, a handler checks the shape
/// of what came, calls one domain operation and encodes its answer; `ProblemMiddleware` maps
/// every error that escapes.
public func buildRouter(services: Services, configuration: ServerConfiguration,
                        processMetrics: ProcessMetrics = .none) -> Router<PasslineRequestContext> {
    let router = Router(context: PasslineRequestContext.self)
    router.middlewares.add(AccessLogMiddleware(level: configuration.accessLogLevel))
    router.middlewares.add(ProblemMiddleware())
    router.get("healthz") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
    router.get("readyz") { _, _ -> Response in
        guard await services.status.isReady() else {
            throw Problem(.serviceUnavailable, type: "not-ready", title: "Not ready", detail: "The store does not answer.")
        }
        return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
    }
    let publicLimits = PublicLimits(sourceBurst: configuration.publicSourceBurst, sourcePerSecond: configuration.publicSourcePerSecond,
                                    cardBurst: configuration.publicCardBurst, cardPerSecond: configuration.publicCardPerSecond)
    PassWebService<PasslineRequestContext>(devices: services.devices, jobs: services.jobs,
                                           logLimiter: RateLimiter(burst: configuration.deviceLogBurst, perSecond: configuration.deviceLogPerSecond),
                                           registrationLimiter: RateLimiter(burst: configuration.registrationBurst, perSecond: configuration.registrationsPerSecond),
                                           publicLimits: publicLimits)
        .addRoutes(to: router)
    PartnerAPI<PasslineRequestContext>(services: services).addRoutes(to: router)
    AdminAPI<PasslineRequestContext>(services: services, token: configuration.adminToken).addRoutes(to: router)
    let metricsToken = configuration.metricsToken.map { Array($0.utf8) }
    router.get("metrics") { request, context -> Response in
        // It names tenants and their figures: with a token set, only with it; without one,
        // only to this machine (a Prometheus beside it, or a proxy that adds the token).
        if let metricsToken {
            let presented = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? Array($0.dropFirst(7).utf8) : nil } ?? []
            guard ConstantTime.equal(presented, metricsToken) else {
                throw Problem.unauthorized("/metrics needs Authorization: Bearer <PASSLINE_METRICS_TOKEN>.")
            }
        } else if !context.isLoopback {
            throw Problem.notFound("No such page.")
        }
        let page = MetricsPage.render(try await services.status.figures()) + processMetrics.render()
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }
    let openAPI = OpenAPIDocument.bytes
    router.get("openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: openAPI)))
    }
    PublicCardRoutes<PasslineRequestContext>(cards: services.cards, branding: services.branding, badges: configuration.badges, googleSaveURL: services.googleSaveURL, limits: publicLimits).addRoutes(to: router)
    // Sign-in attempts per address (lockout per account stops guessing one password; this
    // stops spraying many accounts).
    let signIns = RateLimiter(burst: configuration.signInBurst, perSecond: configuration.signInPerSecond)
    WebApp<PasslineRequestContext>(.init(staff: services.staff, cards: services.cards, purchases: services.purchases, rewards: services.rewards, jobs: services.jobs,
                                        campaigns: services.campaigns, reports: ProgramReports(database: services.cards.database),
                                        imports: services.imports, tenants: services.tenants, webhooks: services.webhooks, branding: services.branding),
                                   secureCookies: configuration.publicURL.hasPrefix("https://"), signInLimit: { signIns.take($0) })
        .addRoutes(to: router)
    if let reports = services.googleReports { GoogleReportRoutes<PasslineRequestContext>(reports: reports).addRoutes(to: router) }
    return router
}

/// The application `passline serve` runs: the router on the configured address. Migrations run
/// before it is built; SIGTERM and SIGINT stop it gracefully (in-flight requests finish).
public func buildApplication(
    services: Services,
    configuration: ServerConfiguration,
    logger: Logger,
    processMetrics: ProcessMetrics = .none,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    Application(
        router: buildRouter(services: services, configuration: configuration, processMetrics: processMetrics),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Passline"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
}

/// The partner API's OpenAPI 3.1 document, committed beside the code and kept true by a test.
public enum OpenAPIDocument {
    public static let bytes: [UInt8] = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else {
            fatalError("openapi.json is missing from the PasslineServer bundle")
        }
        return [UInt8](data)
    }()
}
