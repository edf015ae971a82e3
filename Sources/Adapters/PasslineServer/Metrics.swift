import Foundation
import LoyaltyRules
import PasslineService

/// `/metrics` in Prometheus' text format: what an operator watches.
enum MetricsPage {
    static func render(_ figures: PlatformStatus.Figures, now: Int64 = Int64(Date.now.timeIntervalSince1970 * 1000)) -> String {
        var out = "# HELP passline_jobs Jobs in the durable queue, by state.\n# TYPE passline_jobs gauge\n"
        for state in ["ready", "running", "done", "dead"] { out += "passline_jobs{state=\"\(state)\"} \(figures.jobs[state] ?? 0)\n" }
        out += "# HELP passline_cards Cards issued, by mode.\n# TYPE passline_cards gauge\n"
        for mode in CardMode.allCases { out += "passline_cards{mode=\"\(mode.rawValue)\"} \(figures.cards[mode] ?? 0)\n" }
        out += "# HELP passline_signing_certificate_days_to_expiry Days until a tenant's Pass Type ID certificate expires (negative once it has).\n"
        out += "# TYPE passline_signing_certificate_days_to_expiry gauge\n"
        for (tenant, notAfter) in figures.certificates {
            out += "passline_signing_certificate_days_to_expiry{tenant=\"\(tenant)\"} \((notAfter - now) / 86_400_000)\n"
        }
        out += "# HELP passline_push_deliveries APNs answers (and failures to get one), by outcome.\n# TYPE passline_push_deliveries counter\n"
        for outcome in PushOutcome.allCases {
            out += "passline_push_deliveries{outcome=\"\(outcome.rawValue)\"} \(figures.pushes[outcome] ?? 0)\n"
        }
        out += "# HELP passline_push_paused Tenants whose pushes are paused because APNs refused their certificate.\n# TYPE passline_push_paused gauge\n"
        for tenant in figures.paused { out += "passline_push_paused{tenant=\"\(tenant)\"} 1\n" }
        out += "# HELP passline_wallet_installs Cards added to a wallet (a device's registration), by tenant and wallet.\n# TYPE passline_wallet_installs counter\n"
        for row in figures.installs { out += "passline_wallet_installs{tenant=\"\(row.tenant)\",wallet=\"\(row.wallet)\"} \(row.installs)\n" }
        out += "# HELP passline_wallet_removals Cards taken off a wallet, by tenant and wallet.\n# TYPE passline_wallet_removals counter\n"
        for row in figures.installs { out += "passline_wallet_removals{tenant=\"\(row.tenant)\",wallet=\"\(row.wallet)\"} \(row.removals)\n" }
        out += "# HELP passline_campaigns_running Campaigns still working through their cards.\n# TYPE passline_campaigns_running gauge\n"
        out += "passline_campaigns_running \(figures.campaignsRunning)\n"
        out += "# HELP passline_campaign_cards_pending Cards that running campaigns have yet to change.\n# TYPE passline_campaign_cards_pending gauge\n"
        out += "passline_campaign_cards_pending \(figures.campaignCardsPending)\n"
        return out
    }
}
