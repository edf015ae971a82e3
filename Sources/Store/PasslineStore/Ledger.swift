import LoyaltyRules
import PasslineSQL

/// Earning and redeeming points: the balance change and everything it must cause, in one transaction.
public enum Ledger {
    public struct Entry: Sendable, Equatable {
        public let id: Int64
        public let points: Int64
        public let balanceAfter: Int64
        public let reason: String
        public let amount: Int64?
        public let createdAt: Int64
        public let type: EntryType
        /// The program version that computed an earning from a purchase.
        public let programVersion: Int64?
        public let purchaseReference: String?

        public init(id: Int64, points: Int64, balanceAfter: Int64, reason: String, amount: Int64?, createdAt: Int64, type: EntryType,
                    programVersion: Int64?, purchaseReference: String?) {
            self.id = id; self.points = points; self.balanceAfter = balanceAfter; self.reason = reason; self.amount = amount
            self.createdAt = createdAt; self.type = type; self.programVersion = programVersion; self.purchaseReference = purchaseReference
        }
    }

    public struct Outcome: Sendable, Equatable {
        public let entry: Entry
        public let points: Int64
        public let version: Int64
        /// Push jobs enqueued, one per registered device.
        public let pushes: Int
    }

    /// One change, as a batch of one: the same statements as a batch's (`applyBatch`), in the
    /// caller's transaction, which it commits when the change applies. Nothing may use the
    /// connection afterwards.
    /// - Throws: `DomainError.notFound` for a card the tenant does not have in that mode,
    ///   `DomainError.conflict` for a voided card or a balance the change cannot take,
    ///   `.invalid` for bad values, `.conflict` when another request holds its idempotency key.
    public static func apply(tenant: String, mode: CardMode, _ change: Change, now: Int64, on connection: any SQLConnection) throws -> Outcome {
        try PointsRules.validate(points: change.points, reason: change.reason, amount: change.amount)
        switch try applyBatch(tenant: tenant, mode: mode, [change], now: now, answer: { _, _ in [] }, on: connection)[0] {
        case .applied(let outcome, _): return outcome
        case .refused(let error): throw error
        case .keyTaken: throw DomainError(.conflict, "Another request holds the Idempotency-Key \(change.idempotencyKey ?? "").")
        }
    }

    /// A card's ledger, newest first, `limit` entries before entry id `before` (for paging).
    public static func entries(tenant: String, serial: String, limit: Int, before: Int64?, on connection: any SQLConnection) throws -> [Entry] {
        try connection.query("""
            SELECT id, points, balance_after, reason, amount, created_at, type, program_version, purchase_reference FROM ledger_entries
            WHERE tenant_id = ? AND serial_number = ? AND id < ? ORDER BY id DESC LIMIT ?
            """, [.text(tenant), .text(serial), .int(before ?? Int64.max), .int(Int64(limit))])
        .map { Entry(id: try $0.int("id"), points: try $0.int("points"), balanceAfter: try $0.int("balance_after"),
                     reason: try $0.string("reason"), amount: try $0.optionalInt("amount"), createdAt: try $0.int("created_at"),
                     type: EntryType(rawValue: try $0.string("type")) ?? .adjust, programVersion: try $0.optionalInt("program_version"),
                     purchaseReference: try $0.optionalString("purchase_reference")) }
    }
}

/// Stored answers to requests with an `Idempotency-Key`.
public enum Idempotency {
    /// Removes the expired answers of these keys (the scheduled purge may not have come yet), so
    /// that a key used again after its lifetime is new.
    static func dropExpired(tenant: String, keys: [String], now: Int64, on connection: any SQLConnection) throws {
        guard !keys.isEmpty else { return }
        try connection.execute("""
            DELETE FROM idempotency_records WHERE tenant_id = ? AND created_at < ? AND key IN (\(Array(repeating: "?", count: keys.count).joined(separator: ", ")))
            """, [.text(tenant), .int(now - lifetimeMilliseconds)] + keys.map(SQLValue.text))
    }

    /// Deletes answers past their lifetime, oldest first, at most `limit`.
    /// - Returns: how many went.
    @discardableResult
    public static func purgeExpired(now: Int64, limit: Int, on connection: any SQLConnection) throws -> Int {
        try connection.execute("""
            DELETE FROM idempotency_records WHERE (tenant_id, key) IN (
                SELECT tenant_id, key FROM idempotency_records WHERE created_at < ? ORDER BY created_at LIMIT ?)
            """, [.int(now - lifetimeMilliseconds), .int(Int64(limit))])
    }

    public struct Stored: Sendable, Equatable {
        public let requestHash: [UInt8]
        public let status: Int
        public let body: [UInt8]
    }

    /// How long an answer is kept and replayed (as Stripe keeps them): a key is free again after.
    public static let lifetimeMilliseconds: Int64 = 24 * 3_600_000

    /// The stored key of a request's key in a mode.
    public static func scoped(_ key: String, mode: CardMode) -> String { "\(mode.rawValue):\(key)" }
    public static func unscoped(_ stored: String) -> String { stored.firstIndex(of: ":").map { String(stored[stored.index(after: $0)...]) } ?? stored }

    public static func find(tenant: String, key: String, now: Int64 = WallClock.milliseconds(), on connection: any SQLConnection) throws -> Stored? {
        guard let row = try connection.first("""
            SELECT request_hash, response_status, response_body FROM idempotency_records WHERE tenant_id = ? AND key = ? AND created_at >= ?
            """, [.text(tenant), .text(key), .int(now - lifetimeMilliseconds)]) else { return nil }
        return Stored(requestHash: try row.blob("request_hash"), status: Int(try row.int("response_status")), body: try row.blob("response_body"))
    }

    /// What a request with a key finds when it arrives.
    public enum Reservation: Sendable, Equatable {
        /// The key is this request's now: run it, then `complete` (or `release`).
        case reserved
        /// The key's first request was answered: this answer, again.
        case answered(status: Int, body: [UInt8], headers: String)
        /// The key was used with another request.
        case mismatch
        /// The key's first request is still running.
        case inProgress
    }

    /// A placeholder whose request has not finished this long was abandoned (its process died):
    /// the next request with the key takes it over.
    public static let abandonedAfterMilliseconds: Int64 = 60_000

    /// Takes `key` for a request (in a transaction of the caller's own, committed at once, so
    /// that a second request with the key sees it), or says what holds it.
    public static func reserve(tenant: String, key: String, requestHash: [UInt8], now: Int64, on connection: any SQLConnection) throws -> Reservation {
        try dropExpired(tenant: tenant, keys: [key], now: now, on: connection)
        // A placeholder says 0 for its status: no answer has that status.
        let inserted = try connection.execute("""
            INSERT INTO idempotency_records (tenant_id, key, request_hash, response_status, response_body, created_at) VALUES (?, ?, ?, 0, ?, ?)
            ON CONFLICT DO NOTHING
            """, [.text(tenant), .text(key), .blob(requestHash), .blob([]), .int(now)])
        if inserted == 1 { return .reserved }
        guard let row = try connection.first("""
            SELECT request_hash, response_status, response_body, response_headers, created_at FROM idempotency_records WHERE tenant_id = ? AND key = ?
            """, [.text(tenant), .text(key)]) else { return .inProgress }
        guard try row.blob("request_hash") == requestHash else { return .mismatch }
        let status = Int(try row.int("response_status"))
        if status != 0 { return .answered(status: status, body: try row.blob("response_body"), headers: try row.string("response_headers")) }
        let taken = try connection.execute("""
            UPDATE idempotency_records SET created_at = ? WHERE tenant_id = ? AND key = ? AND response_status = 0 AND created_at < ?
            """, [.int(now), .text(tenant), .text(key), .int(now - abandonedAfterMilliseconds)])
        return taken == 1 ? .reserved : .inProgress
    }

    /// Stores the answer of a request that reserved its key.
    public static func complete(tenant: String, key: String, status: Int, body: [UInt8], headers: String, on connection: any SQLConnection) throws {
        try connection.execute("""
            UPDATE idempotency_records SET response_status = ?, response_body = ?, response_headers = ? WHERE tenant_id = ? AND key = ? AND response_status = 0
            """, [.int(Int64(status)), .blob(body), .text(headers), .text(tenant), .text(key)])
    }

    /// Frees a key whose request ended without an answer worth replaying (a server error).
    public static func release(tenant: String, key: String, on connection: any SQLConnection) throws {
        try connection.execute("DELETE FROM idempotency_records WHERE tenant_id = ? AND key = ? AND response_status = 0", [.text(tenant), .text(key)])
    }

    /// Records the answer in the same transaction as the change, so a key never outlives a rolled-back change.
    /// - Throws: `SQLError.uniqueViolation` when a concurrent request with the same key committed first.
    public static func store(tenant: String, key: String, requestHash: [UInt8], status: Int, body: [UInt8], now: Int64, on connection: any SQLConnection) throws {
        try dropExpired(tenant: tenant, keys: [key], now: now, on: connection)
        try connection.execute("""
            INSERT INTO idempotency_records (tenant_id, key, request_hash, response_status, response_body, created_at) VALUES (?, ?, ?, ?, ?, ?)
            """, [.text(tenant), .text(key), .blob(requestHash), .int(Int64(status)), .blob(body), .int(now)])
    }
}
