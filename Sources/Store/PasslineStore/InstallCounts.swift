import LoyaltyRules
import PasslineSQL

/// How many times a tenant's cards were added to a wallet and taken off one, per template and
/// wallet, and how many are on a device now; moved in the transaction of the registration or
/// removal itself, as its `pass.installed` / `pass.removed` event is written.
public enum InstallCounts {
    public enum Wallet: String, Sendable, CaseIterable {
        case apple, google
    }

    /// Counts `installs` and `removals` of the cards `serials` (by their templates).
    static func add(tenant: String, serials: [String], wallet: Wallet, installs: Int64, removals: Int64, now: Int64 = WallClock.milliseconds(),
                    on connection: any SQLConnection) throws {
        guard !serials.isEmpty else { return }
        let count = Int64(serials.count)
        try connection.execute("""
            INSERT INTO install_weeks (tenant_id, week_start, wallet, installs, removals) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, week_start, wallet) DO UPDATE SET
                installs = install_weeks.installs + excluded.installs, removals = install_weeks.removals + excluded.removals
            """, [.text(tenant), .int(Weeks.start(of: now)), .text(wallet.rawValue), .int(installs * count), .int(removals * count)])
        try connection.execute("""
            INSERT INTO install_counts (tenant_id, template_id, wallet, installs, removals)
            SELECT c.tenant_id, c.template_id, ?, COUNT(*) * ?, COUNT(*) * ? FROM cards c
            WHERE c.tenant_id = ? AND c.serial_number IN (\(Array(repeating: "?", count: serials.count).joined(separator: ", ")))
            GROUP BY c.tenant_id, c.template_id
            ON CONFLICT (tenant_id, template_id, wallet) DO UPDATE SET
                installs = install_counts.installs + excluded.installs, removals = install_counts.removals + excluded.removals
            """, [.text(wallet.rawValue), .int(installs), .int(removals), .text(tenant)] + serials.map(SQLValue.text))
    }

    public struct Figures: Sendable, Equatable {
        public let template: String
        public let wallet: Wallet
        public let installs: Int64
        public let removals: Int64
        /// Cards in a wallet now (Apple: on at least one registered device; Google: saved, as
        /// its last report said).
        public let active: Int64
    }

    /// A tenant's figures per template and wallet.
    public static func figures(tenant: String, on connection: any SQLConnection) throws -> [Figures] {
        var active: [String: Int64] = [:]
        for row in try connection.query("""
            SELECT c.template_id AS template_id, COUNT(DISTINCT r.serial_number) AS n FROM registrations r
            JOIN cards c ON c.tenant_id = r.tenant_id AND c.serial_number = r.serial_number WHERE r.tenant_id = ? GROUP BY c.template_id
            """, [.text(tenant)]) {
            active[try row.string("template_id")] = try row.int("n")
        }
        var saved: [String: Int64] = [:]
        for row in try connection.query("""
            SELECT c.template_id AS template_id, COUNT(*) AS n FROM google_objects g
            JOIN cards c ON c.tenant_id = g.tenant_id AND c.serial_number = g.serial_number WHERE g.tenant_id = ? AND g.saved = 1 GROUP BY c.template_id
            """, [.text(tenant)]) {
            saved[try row.string("template_id")] = try row.int("n")
        }
        var figures = try connection.query("""
            SELECT template_id, wallet, installs, removals FROM install_counts WHERE tenant_id = ? ORDER BY template_id, wallet
            """, [.text(tenant)]).compactMap { row -> Figures? in
            guard let wallet = Wallet(rawValue: try row.string("wallet")) else { return nil }
            let template = try row.string("template_id")
            return Figures(template: template, wallet: wallet, installs: try row.int("installs"), removals: try row.int("removals"),
                           active: (wallet == .apple ? active[template] : saved[template]) ?? 0)
        }
        for (template, n) in active where !figures.contains(where: { $0.template == template && $0.wallet == .apple }) {
            figures.append(Figures(template: template, wallet: .apple, installs: 0, removals: 0, active: n))
        }
        return figures
    }

    /// Every tenant's totals per wallet, for `/metrics` (labels: tenant and wallet only).
    public static func totals(on connection: any SQLConnection) throws -> [(tenant: String, wallet: String, installs: Int64, removals: Int64)] {
        try connection.query("""
            SELECT tenant_id, wallet, CAST(SUM(installs) AS BIGINT) AS installs, CAST(SUM(removals) AS BIGINT) AS removals FROM install_counts
            GROUP BY tenant_id, wallet ORDER BY tenant_id, wallet
            """, []).map { (try $0.string("tenant_id"), try $0.string("wallet"), try $0.int("installs"), try $0.int("removals")) }
    }
}
