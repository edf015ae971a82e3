import LoyaltyRules
import PasslineSQL

/// What the manager's reports draw, per week (Monday 00:00 UTC): points issued, redeemed and
/// expired; members active; wallet installs and removals; push deliveries by outcome.
public enum Reports {
    /// The week a time column falls in, as SQL; `Weeks.start` in Swift, for times after 1970-01-05.
    static func week(_ column: String) -> String {
        "((\(column) - \(Weeks.firstMonday)) / \(Weeks.milliseconds)) * \(Weeks.milliseconds) + \(Weeks.firstMonday)"
    }

    public struct Row: Sendable, Equatable {
        public let week: Int64
        public let key: String
        public let value: Int64
    }

    /// Points per week and entry type (`earn`, `redeem`, `expire`, `adjust`, `refund`), as
    /// positive amounts, for the tenant's cards in `mode`.
    public static func points(tenant: String, mode: CardMode, since: Int64, on connection: any SQLConnection) throws -> [Row] {
        try connection.query("""
            SELECT \(week("e.created_at")) AS week, e.type AS key, CAST(SUM(CASE WHEN e.points < 0 THEN -e.points ELSE e.points END) AS BIGINT) AS value
            FROM ledger_entries e JOIN cards c ON c.tenant_id = e.tenant_id AND c.serial_number = e.serial_number
            WHERE e.tenant_id = ? AND e.created_at >= ? AND c.mode = ?
            GROUP BY \(week("e.created_at")), e.type ORDER BY week
            """, [.text(tenant), .int(since), .text(mode.rawValue)]).map(row)
    }

    /// Members with a purchase or a redemption, per week.
    public static func activeMembers(tenant: String, mode: CardMode, since: Int64, on connection: any SQLConnection) throws -> [Row] {
        try connection.query("""
            SELECT \(week("e.created_at")) AS week, 'active' AS key, COUNT(DISTINCT e.serial_number) AS value
            FROM ledger_entries e JOIN cards c ON c.tenant_id = e.tenant_id AND c.serial_number = e.serial_number
            WHERE e.tenant_id = ? AND e.created_at >= ? AND c.mode = ? AND e.type IN ('earn', 'redeem')
            GROUP BY \(week("e.created_at")) ORDER BY week
            """, [.text(tenant), .int(since), .text(mode.rawValue)]).map(row)
    }

    /// Installs and removals per week and wallet: keys `apple.installs`, `google.removals`, ….
    public static func installs(tenant: String, since: Int64, on connection: any SQLConnection) throws -> [Row] {
        try connection.query("SELECT week_start, wallet, installs, removals FROM install_weeks WHERE tenant_id = ? AND week_start >= ? ORDER BY week_start",
                             [.text(tenant), .int(Weeks.start(of: since))]).flatMap { row -> [Row] in
            let week = try row.int("week_start"), wallet = try row.string("wallet")
            return [Row(week: week, key: "\(wallet).installs", value: try row.int("installs")), Row(week: week, key: "\(wallet).removals", value: try row.int("removals"))]
        }
    }

    /// Push deliveries per week and outcome (kept as long as the delivery history is).
    public static func pushes(tenant: String, since: Int64, on connection: any SQLConnection) throws -> [Row] {
        try connection.query("""
            SELECT \(week("created_at")) AS week, outcome AS key, COUNT(*) AS value FROM push_deliveries
            WHERE tenant_id = ? AND created_at >= ? GROUP BY \(week("created_at")), outcome ORDER BY week
            """, [.text(tenant), .int(since)]).map(row)
    }

    private static func row(_ row: SQLRow) throws -> Row {
        Row(week: try row.int("week"), key: try row.string("key"), value: try row.int("value"))
    }
}
