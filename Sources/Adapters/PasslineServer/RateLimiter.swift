import Foundation
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
