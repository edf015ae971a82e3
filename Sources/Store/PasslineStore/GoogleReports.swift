import LoyaltyRules
import PasslineSQL

/// Google's reports that a holder saved a card's object to their wallet or deleted it: counted
/// as installs and removals, and sent as `pass.installed` / `pass.removed`, as Apple's
/// registrations are.
public enum GoogleReports {
    public enum Outcome: Sendable, Equatable {
        case counted
        /// Google sent this report before (its retries keep the nonce): nothing changed.
        case repeated
    }

    /// The card an object id belongs to; nil when no card's object has that id.
    public static func owner(objectID: String, on connection: any SQLConnection) throws -> (tenant: String, serial: String)? {
        try connection.first("SELECT tenant_id, serial_number FROM google_objects WHERE object_id = ? ORDER BY tenant_id LIMIT 1", [.text(objectID)])
            .map { (try $0.string("tenant_id"), try $0.string("serial_number")) }
    }

    /// Records a report, once per nonce, in the caller's transaction.
    public static func record(tenant: String, serial: String, saved: Bool, nonce: String, now: Int64, on connection: any SQLConnection) throws -> Outcome {
        let fresh = try connection.execute("INSERT INTO google_reports (tenant_id, nonce, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                           [.text(tenant), .text(nonce), .int(now)])
        guard fresh == 1 else { return .repeated }
        try connection.execute("UPDATE google_objects SET saved = ? WHERE tenant_id = ? AND serial_number = ?",
                               [.int(saved ? 1 : 0), .text(tenant), .text(serial)])
        try InstallCounts.add(tenant: tenant, serials: [serial], wallet: .google, installs: saved ? 1 : 0, removals: saved ? 0 : 1, on: connection)
        try Devices.passEvent(saved ? .passInstalled : .passRemoved, wallet: .google, tenant: tenant, serial: serial, now: now, on: connection)
        return .counted
    }

    /// Forgets nonces received before `before`: Google gives up retrying long before.
    public static func purge(before: Int64, limit: Int, on connection: any SQLConnection) throws -> Int {
        try connection.execute("""
            DELETE FROM google_reports WHERE (tenant_id, nonce) IN (SELECT tenant_id, nonce FROM google_reports WHERE received_at < ? ORDER BY received_at LIMIT ?)
            """, [.int(before), .int(Int64(limit))])
    }
}
