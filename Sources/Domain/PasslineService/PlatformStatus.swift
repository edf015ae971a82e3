import LoyaltyRules
import PasslineSQL
import PasslineStore

/// What the operator watches: whether the store answers, and the platform's figures, each read
/// from counts kept as work happens (a scrape costs the same with a million cards as with ten).
public struct PlatformStatus: Sendable {
    let database: any SQLDatabase

    public init(database: any SQLDatabase) { self.database = database }

    /// Whether the store answers a query.
    public func isReady() async -> Bool {
        (try? await database.withConnection { try $0.query("SELECT 1 AS ok", []) }) != nil
    }

    public struct Figures: Sendable {
        /// Jobs by state (ready, running, done, dead).
        public var jobs: [String: Int64]
        /// Cards issued, by mode.
        public var cards: [CardMode: Int64]
        /// Each tenant's signing certificate's end of validity (ms).
        public var certificates: [(tenant: String, notAfter: Int64)]
        public var pushes: [PushOutcome: Int]
        /// Tenants whose pushes are paused.
        public var paused: [String]
        public var campaignsRunning: Int64
        public var campaignCardsPending: Int64
        /// Each tenant's installs and removals per wallet.
        public var installs: [(tenant: String, wallet: String, installs: Int64, removals: Int64)] = []
    }

    /// A tenant's installs, removals and cards on a device now, per template and wallet.
    public func installs(tenant: String) async throws -> [InstallCounts.Figures] {
        try await database.withConnection { try InstallCounts.figures(tenant: tenant, on: $0) }
    }

    public func figures() async throws -> Figures {
        return try await database.withConnection { connection in
            let cards = try connection.query("SELECT mode, CAST(SUM(n) AS BIGINT) AS n FROM card_counts GROUP BY mode ORDER BY mode", [])
            var byMode: [CardMode: Int64] = [:]
            for row in cards { if let mode = CardMode(rawValue: try row.string("mode")) { byMode[mode] = try row.int("n") } }
            let campaigns = try connection.first("""
                SELECT COUNT(*) AS n, CAST(COALESCE(SUM(total - done - failed), 0) AS BIGINT) AS pending FROM campaigns WHERE state = 'running'
                """, [])
            return Figures(
                jobs: try JobCounts.read(on: connection),
                cards: byMode,
                certificates: try connection.query("SELECT tenant_id, not_after FROM signing_identities ORDER BY tenant_id", [])
                    .map { (try $0.string("tenant_id"), try $0.int("not_after")) },
                pushes: Dictionary(uniqueKeysWithValues: try Pushes.counts(tenant: nil, on: connection).compactMap { key, n in PushOutcome(rawValue: key).map { ($0, n) } }),
                paused: try connection.query("SELECT id FROM tenants WHERE push_paused_reason IS NOT NULL ORDER BY id", []).map { try $0.string("id") },
                campaignsRunning: try campaigns?.int("n") ?? 0,
                campaignCardsPending: try campaigns?.int("pending") ?? 0,
                installs: try InstallCounts.totals(on: connection)
            )
        }
    }
}
