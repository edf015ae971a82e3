/// A limit of requests: `burst` at once, then `perSecond`, as the generic cell rate algorithm
/// (GCRA) keeps it: one number a bucket, the theoretical arrival time of its next request,
/// which a store can move in one statement, so processes sharing a store share the limit.
public struct RateLimit: Sendable, Equatable {
    public var perSecond: Int64
    public var burst: Int64

    public init(perSecond: Int64, burst: Int64) {
        self.perSecond = perSecond
        self.burst = burst
    }

    public static let perSecondRange: ClosedRange<Int64> = 1...100_000
    public static let burstRange: ClosedRange<Int64> = 1...1_000_000

    /// How many requests a process takes from a shared bucket at once, to spend from memory:
    /// a tenth of a second's worth, at most a tenth of the burst and at most 50, so that a busy
    /// key costs the store one statement per chunk, not per request. Tokens a process took and
    /// did not spend are lost, never added: the limit is never passed, at worst a little short.
    public var chunk: Int64 { max(1, min(50, perSecond / 10, burst / 10)) }

    /// Milliseconds between requests at the steady rate (at least 1).
    public var intervalMilliseconds: Int64 { max(1, 1_000 / max(1, perSecond)) }

    /// The window a full bucket takes to refill, in seconds (the policy's `w`).
    public var windowSeconds: Int64 { max(1, (burst * intervalMilliseconds + 999) / 1_000) }

    /// What `cost` requests at `now` find, given the bucket's arrival time (nil: a new bucket):
    /// all of them allowed, or none.
    public func decide(tat: Int64?, now: Int64, cost: Int64 = 1) -> Decision {
        let interval = intervalMilliseconds
        let start = max(tat ?? now, now)
        let next = start + interval * max(1, cost)
        let allowedAt = next - burst * interval
        guard allowedAt <= now else {
            let wait = allowedAt - now
            return Decision(allowed: false, tat: start, remaining: 0, resetSeconds: Self.seconds(start - now), retryAfterSeconds: Self.seconds(wait))
        }
        return Decision(allowed: true, tat: next, remaining: max(0, (now + burst * interval - next) / interval),
                        resetSeconds: Self.seconds(next - now), retryAfterSeconds: nil)
    }

    /// Whole seconds, rounded up (a client that waits them is in time).
    static func seconds(_ milliseconds: Int64) -> Int64 { max(0, (milliseconds + 999) / 1_000) }

    public struct Decision: Sendable, Equatable {
        public let allowed: Bool
        /// The bucket's arrival time after this request.
        public let tat: Int64
        public let remaining: Int64
        /// Seconds until the bucket is full again.
        public let resetSeconds: Int64
        /// Seconds until a request is allowed again (denied requests only).
        public let retryAfterSeconds: Int64?

        public init(allowed: Bool, tat: Int64, remaining: Int64, resetSeconds: Int64, retryAfterSeconds: Int64?) {
            self.allowed = allowed; self.tat = tat; self.remaining = remaining; self.resetSeconds = resetSeconds; self.retryAfterSeconds = retryAfterSeconds
        }
    }
}
