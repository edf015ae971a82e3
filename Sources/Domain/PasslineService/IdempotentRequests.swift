import LoyaltyRules
import PasslineSQL
import PasslineStore

/// `Idempotency-Key` on every write of the partner API, as Stripe has it: the first request
/// with a key runs and its answer is kept 24 hours; the same key with the same request gets
/// that answer again (errors too); with another request, a 422. Keys are scoped by tenant,
/// mode and route. (Points transactions, purchases, refunds and redemptions keep their answer
/// in the change's own transaction instead, which this cannot do for every route.)
public final class IdempotentRequests: Sendable {
    let database: any SQLDatabase

    public init(database: any SQLDatabase) {
        self.database = database
    }

    public typealias Reservation = Idempotency.Reservation

    /// The stored key of a request's key: its mode and route with it.
    public static func scoped(_ key: String, mode: CardMode, route: String) -> String { "\(mode.rawValue):\(route):\(key)" }

    public func reserve(tenant: String, key: String, requestHash: [UInt8], now: Int64 = WallClock.milliseconds()) async throws -> Reservation {
        try await database.transaction { try Idempotency.reserve(tenant: tenant, key: key, requestHash: requestHash, now: now, on: $0) }
    }

    public func complete(tenant: String, key: String, status: Int, body: [UInt8], headers: String) async throws {
        try await database.transaction { try Idempotency.complete(tenant: tenant, key: key, status: status, body: body, headers: headers, on: $0) }
    }

    public func release(tenant: String, key: String) async throws {
        try await database.transaction { try Idempotency.release(tenant: tenant, key: key, on: $0) }
    }
}
