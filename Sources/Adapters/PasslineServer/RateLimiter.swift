import Foundation
import Hummingbird
import Synchronization

/// Token buckets by key (a tenant, say), in memory: `burst` requests at once, then `perSecond`.
/// For unauthenticated routes such as Apple's log endpoint, which anyone can call.
final class RateLimiter: Sendable {
    private struct Bucket { var tokens: Double; var at: Double }
    private let buckets = Mutex<[String: Bucket]>([:])
    let burst: Double
    let perSecond: Double
    /// Buckets kept at most; the fullest (idlest) go first beyond it, so random keys cannot grow memory.
    let capacity: Int

    init(burst: Int, perSecond: Double, capacity: Int = 10_000) {
        self.burst = Double(burst)
        self.perSecond = perSecond
        self.capacity = capacity
    }

    /// Takes a token for `key`; nil when allowed, else the seconds until one is free.
    func take(_ key: String, now: Double = Date().timeIntervalSince1970) -> Int? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, at: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * perSecond)
            bucket.at = now
            defer {
                buckets[key] = bucket
                if buckets.count > capacity {
                    let idle = buckets.filter { $0.value.tokens + (now - $0.value.at) * perSecond >= burst }.map(\.key)
                    for key in idle.prefix(buckets.count - capacity / 2) { buckets[key] = nil }
                }
            }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return Int(((1 - bucket.tokens) / perSecond).rounded(.up))
        }
    }
}

/// The limits of routes anyone may call (Apple's web service, the public card links): per
/// source address and per card, so that no caller exhausts what a tenant's customers need,
/// and no card is fetched in a loop. Kept per process: these protect a process, not a quota.
struct PublicLimits: Sendable {
    let perSource: RateLimiter
    let perCard: RateLimiter

    init(sourceBurst: Int, sourcePerSecond: Double, cardBurst: Int, cardPerSecond: Double) {
        perSource = RateLimiter(burst: sourceBurst, perSecond: sourcePerSecond)
        perCard = RateLimiter(burst: cardBurst, perSecond: cardPerSecond)
    }

    /// - Throws: 429 naming the limit, with `Retry-After`.
    func check(source: String?, card: String?) throws {
        if let wait = perSource.take(source ?? "unknown") {
            throw Problem.rateLimited("Too many requests", detail: "This address sent more than \(Int(perSource.burst)) requests at once, or \(perSource.perSecond.formatted()) a second after; try again in \(wait) s.", retryAfter: wait)
        }
        if let card, let wait = perCard.take(card) {
            throw Problem.rateLimited("Too many requests for this card", detail: "This card was asked for more than \(Int(perCard.burst)) times at once, or \(perCard.perSecond.formatted()) a second after; try again in \(wait) s.", retryAfter: wait)
        }
    }
}

/// Applies `PublicLimits` to a group of public routes, the card named by a path parameter.
struct PublicLimitMiddleware<Context: SourceAwareRequestContext>: RouterMiddleware {
    let limits: PublicLimits
    let cardParameter: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try limits.check(source: context.remoteIP, card: context.parameters.get(cardParameter))
        return try await next(request, context)
    }
}
