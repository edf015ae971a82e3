import LoyaltyRules
import PasslineSQL
import PasslineStore

/// The manager's reports: a few figures per week over the last weeks, each a table of weeks by
/// series, ready to draw or to download.
public struct ProgramReports: Sendable {
    let database: any SQLDatabase

    public init(database: any SQLDatabase) { self.database = database }

    public enum Kind: String, Sendable, CaseIterable {
        case points, members, wallets, pushes

        public var title: String {
            switch self {
            case .points: "Points issued, redeemed and expired"
            case .members: "Active members (a purchase or a redemption)"
            case .wallets: "Wallet installs and removals"
            case .pushes: "Push deliveries"
            }
        }

        /// The series drawn, in order, with their names.
        public var series: [(key: String, name: String)] {
            switch self {
            case .points: [("earn", "issued"), ("redeem", "redeemed"), ("expire", "expired")]
            case .members: [("active", "active members")]
            case .wallets: [("apple.installs", "Apple installs"), ("apple.removals", "Apple removals"), ("google.installs", "Google saves"), ("google.removals", "Google removals")]
            case .pushes: [("delivered", "delivered"), ("retrying", "retried"), ("failed", "failed"), ("dead", "given up"), ("unregistered", "device gone")]
            }
        }
    }

    public struct Table: Sendable, Equatable {
        public let kind: Kind
        /// Week starts (milliseconds), oldest first.
        public let weeks: [Int64]
        /// One value per week, per series, in the kind's order.
        public let values: [[Int64]]
    }

    /// The last `weeks` weeks of one report for the tenant's cards in `mode`.
    public func table(_ kind: Kind, tenant: String, mode: CardMode, weeks count: Int = 12, now: Int64 = WallClock.milliseconds()) async throws -> Table {
        let weeks = Weeks.last(min(max(count, 1), 104), now: now)
        let since = weeks[0]
        let rows = try await database.withConnection { connection -> [Reports.Row] in
            switch kind {
            case .points: try Reports.points(tenant: tenant, mode: mode, since: since, on: connection)
            case .members: try Reports.activeMembers(tenant: tenant, mode: mode, since: since, on: connection)
            case .wallets: try Reports.installs(tenant: tenant, since: since, on: connection)
            case .pushes: try Reports.pushes(tenant: tenant, since: since, on: connection)
            }
        }
        var byKey: [String: [Int64: Int64]] = [:]
        for row in rows { byKey[row.key, default: [:]][row.week, default: 0] += row.value }
        return Table(kind: kind, weeks: weeks, values: kind.series.map { series in weeks.map { byKey[series.key]?[$0] ?? 0 } })
    }
}
