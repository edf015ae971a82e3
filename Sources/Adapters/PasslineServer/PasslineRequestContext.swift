import Hummingbird
import LoyaltyRules
import NIOCore
import PasslineService
import PasslineWebApp

/// What the routes know of a request besides the request itself: where it came from, for
/// limits per source and for what only this machine may read.
public protocol SourceAwareRequestContext: RequestContext {
    /// The peer's IP address; nil for a Unix socket or a test without one.
    var remoteIP: String? { get }
    /// What the request's log line should say, learned by handlers.
    var facts: RequestFacts { get }
}

extension SourceAwareRequestContext {
    /// Whether the peer is this machine (127.0.0.0/8 or ::1).
    var isLoopback: Bool { remoteIP.map(ServerConfiguration.isLoopback) ?? false }
}

/// Who a partner API request acts for: the API key's tenant and mode.
public struct PartnerPrincipal: Sendable, Equatable {
    public let tenant: String
    public let mode: CardMode
}

/// A context that carries the partner principal once `PartnerKeyMiddleware` has authenticated
/// the request: handlers read it, they never authenticate themselves.
public protocol PartnerRequestContext: SourceAwareRequestContext {
    var partner: PartnerPrincipal? { get set }
}

extension PartnerRequestContext {
    /// The authenticated principal.
    /// - Throws: 401 when the route was reached without the middleware (a routing mistake, refused rather than served).
    func principal() throws -> PartnerPrincipal {
        guard let partner else { throw Problem.unauthorized("An Authorization: Bearer <API key> header is required.") }
        return partner
    }
}

/// The pass a request of Apple's web service proved it holds (`Authorization: ApplePass <token>`).
/// The card comes from the same query that checked the token: the handlers need no other.
public struct ApplePassHolder: Sendable, Equatable {
    public let card: Cards.Card
    public let passType: String
}

/// A context that carries the pass once `ApplePassMiddleware` has checked the device's token.
public protocol ApplePassRequestContext: SourceAwareRequestContext {
    var applePass: ApplePassHolder? { get set }
}

extension ApplePassRequestContext {
    /// - Throws: 401 when the route was reached without the middleware.
    func holder() throws -> ApplePassHolder {
        guard let applePass else { throw Problem.unauthorized("An Authorization: ApplePass <token> header is required.") }
        return applePass
    }
}

public struct PasslineRequestContext: PartnerRequestContext, ApplePassRequestContext, WebRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteIP: String?
    public var partner: PartnerPrincipal?
    public var applePass: ApplePassHolder?
    public let facts = RequestFacts()

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteIP = source.channel.remoteAddress?.ipAddress
    }
}
