import Foundation
import PasslineSQL
import PasslineStore

/// `/metrics` in Prometheus' text format: what an operator watches.
enum MetricsPage {
    static func render(database: any SQLDatabase, now: Int64 = Clock.milliseconds()) async throws -> String {
        let (jobs, cards, certificates, pushes, paused, campaigns) = try await database.withConnection { connection in
            (
                try JobCounts.read(dialect: database.dialect, on: connection).map { ($0.key, $0.value) },
                try connection.query("SELECT mode, CAST(SUM(n) AS BIGINT) AS n FROM card_counts GROUP BY mode ORDER BY mode", []).map { (try $0.string("mode"), try $0.int("n")) },
                try connection.query("SELECT tenant_id, not_after FROM signing_identities ORDER BY tenant_id", []).map { (try $0.string("tenant_id"), try $0.int("not_after")) },
                try Pushes.counts(tenant: nil, on: connection),
                try connection.query("SELECT id FROM tenants WHERE push_paused_reason IS NOT NULL ORDER BY id", []).map { try $0.string("id") },
                try connection.first("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(total - done - failed), 0) AS BIGINT) AS pending FROM campaigns WHERE state = 'running'", [])
                    .map { (try $0.int("n"), try $0.int("pending")) } ?? (0, 0)
            )
        }
        var out = "# HELP passline_jobs Jobs in the durable queue, by state.\n# TYPE passline_jobs gauge\n"
        let byState = Dictionary(jobs, uniquingKeysWith: { a, _ in a })
        for state in ["ready", "running", "done", "dead"] { out += "passline_jobs{state=\"\(state)\"} \(byState[state] ?? 0)\n" }
        out += "# HELP passline_cards Cards issued, by mode.\n# TYPE passline_cards gauge\n"
        let byMode = Dictionary(cards, uniquingKeysWith: { a, _ in a })
        for mode in ["live", "test"] { out += "passline_cards{mode=\"\(mode)\"} \(byMode[mode] ?? 0)\n" }
        out += "# HELP passline_signing_certificate_days_to_expiry Days until a tenant's Pass Type ID certificate expires (negative once it has).\n"
        out += "# TYPE passline_signing_certificate_days_to_expiry gauge\n"
        for (tenant, notAfter) in certificates {
            out += "passline_signing_certificate_days_to_expiry{tenant=\"\(tenant)\"} \((notAfter - now) / 86_400_000)\n"
        }
        out += "# HELP passline_push_deliveries APNs answers (and failures to get one), by outcome.\n# TYPE passline_push_deliveries counter\n"
        for outcome in PushOutcomeNames.all {
            out += "passline_push_deliveries{outcome=\"\(outcome)\"} \(pushes[outcome] ?? 0)\n"
        }
        out += "# HELP passline_push_paused Tenants whose pushes are paused because APNs refused their certificate.\n# TYPE passline_push_paused gauge\n"
        for tenant in paused { out += "passline_push_paused{tenant=\"\(tenant)\"} 1\n" }
        out += "# HELP passline_campaigns_running Campaigns still working through their cards.\n# TYPE passline_campaigns_running gauge\n"
        out += "passline_campaigns_running \(campaigns.0)\n"
        out += "# HELP passline_campaign_cards_pending Cards that running campaigns have yet to change.\n# TYPE passline_campaign_cards_pending gauge\n"
        out += "passline_campaign_cards_pending \(campaigns.1)\n"
        return out
    }
}
