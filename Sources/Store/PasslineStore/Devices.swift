import LoyaltyRules
import PasslineJSON
import PasslineSQL

/// What Apple's pass web service reads and writes about devices.
public enum Devices {
    /// Registers a device for a card (the push token is replaced when it changed). Returns true when new.
    /// - Parameter maxDevicesPerCard: refuse a new device for a card already on this many.
    public static func register(tenant: String, device: String, pushToken: String, passType: String, serial: String, now: Int64,
                                maxDevicesPerCard: Int? = nil, on connection: any SQLConnection) throws -> Bool {
        try TextRules.check(device, field: "deviceLibraryIdentifier", maxLength: 256)
        try TextRules.check(pushToken, field: "pushToken", maxLength: 256)
        if let maxDevicesPerCard {
            let others = try connection.first("""
                SELECT COUNT(*) AS n FROM registrations WHERE tenant_id = ? AND serial_number = ? AND device_library_id <> ?
                """, [.text(tenant), .text(serial), .text(device)])?.int("n") ?? 0
            if others >= Int64(maxDevicesPerCard) {
                throw DomainError(.invalid, "Card \(serial) is registered on \(others) devices already, the most a card may be on (\(maxDevicesPerCard)); remove it from one of them first.")
            }
        }
        try connection.execute("""
            INSERT INTO devices (tenant_id, device_library_id, push_token, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, device_library_id) DO UPDATE SET push_token = excluded.push_token, updated_at = excluded.updated_at
            """, [.text(tenant), .text(device), .text(pushToken), .int(now), .int(now)])
        let added: Bool
        do {
            added = try connection.execute("""
                INSERT INTO registrations (tenant_id, device_library_id, pass_type_identifier, serial_number, created_at)
                VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """, [.text(tenant), .text(device), .text(passType), .text(serial), .int(now)]) == 1
        } catch let error as SQLError where error.code == .foreignKeyViolation {
            throw DomainError(.notFound, "Card \(serial) does not exist for this tenant.")
        }
        if added {
            try InstallCounts.add(tenant: tenant, serials: [serial], wallet: .apple, installs: 1, removals: 0, on: connection)
            try passEvent(.passInstalled, tenant: tenant, serial: serial, now: now, on: connection)
        }
        return added
    }

    /// The pass type identifier of the tenant's signing identity; nil for an unknown tenant.
    public static func passType(tenant: String, on connection: any SQLConnection) throws -> String? {
        try connection.first("SELECT pass_type_identifier FROM signing_identities WHERE tenant_id = ?", [.text(tenant)])?.string("pass_type_identifier")
    }

    /// A card's authentication token; nil when the tenant has no such card.
    public static func authenticationToken(tenant: String, serial: String, on connection: any SQLConnection) throws -> String? {
        try connection.first("SELECT authentication_token FROM cards WHERE tenant_id = ? AND serial_number = ?", [.text(tenant), .text(serial)])?
            .string("authentication_token")
    }

    /// Removes a registration, and the device once it holds no more passes. Returns whether it existed.
    @discardableResult
    public static func unregister(tenant: String, device: String, passType: String, serial: String, now: Int64 = WallClock.milliseconds(),
                                  on connection: any SQLConnection) throws -> Bool {
        let removed = try connection.execute("""
            DELETE FROM registrations WHERE tenant_id = ? AND device_library_id = ? AND pass_type_identifier = ? AND serial_number = ?
            """, [.text(tenant), .text(device), .text(passType), .text(serial)])
        try connection.execute("""
            DELETE FROM devices WHERE tenant_id = ? AND device_library_id = ?
              AND NOT EXISTS (SELECT 1 FROM registrations r WHERE r.tenant_id = ? AND r.device_library_id = ?)
            """, [.text(tenant), .text(device), .text(tenant), .text(device)])
        if removed > 0 {
            try InstallCounts.add(tenant: tenant, serials: [serial], wallet: .apple, installs: 0, removals: 1, on: connection)
            try passEvent(.passRemoved, tenant: tenant, serial: serial, now: now, on: connection)
        }
        return removed > 0
    }

    /// `pass.installed` or `pass.removed`: the card, and how many Apple devices hold it now.
    static func passEvent(_ kind: DomainEvent.Kind, wallet: InstallCounts.Wallet = .apple, tenant: String, serial: String, now: Int64,
                          on connection: any SQLConnection) throws {
        guard let mode = try connection.first("SELECT mode FROM cards WHERE tenant_id = ? AND serial_number = ?", [.text(tenant), .text(serial)])?.mode("mode") else {
            return
        }
        try Events.emit(tenant: tenant, mode: mode, now: now, on: connection) {
            // Apple: the devices that hold the card now; Google reports saves, not devices.
            let devices = wallet == .google ? nil : try connection.first("SELECT COUNT(*) AS n FROM registrations WHERE tenant_id = ? AND serial_number = ?",
                                                                         [.text(tenant), .text(serial)])?.int("n") ?? 0
            return [DomainEvent(kind, JSONObject([("wallet", .string(wallet.rawValue)), ("devices", devices.map(JSONValue.int) ?? .null),
                                                  ("card", .object(try Events.cardSnapshot(tenant: tenant, serial: serial, on: connection)))]))]
        }
    }

    /// Keeps messages that devices report, at most `keep` a tenant (the oldest go first).
    public static func log(tenant: String, messages: [String], now: Int64, keep: Int = 1000, on connection: any SQLConnection) throws {
        for message in messages {
            try connection.execute("INSERT INTO device_logs (tenant_id, message, created_at) VALUES (?, ?, ?)",
                                   [.text(tenant), .text(message), .int(now)])
        }
        try connection.execute("""
            DELETE FROM device_logs WHERE tenant_id = ? AND id <= (
                SELECT id FROM device_logs WHERE tenant_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
            """, [.text(tenant), .text(tenant), .int(Int64(keep))])
    }

    /// The tenant's newest device messages, newest first.
    public static func logs(tenant: String, limit: Int, on connection: any SQLConnection) throws -> [(message: String, at: Int64)] {
        try connection.query("SELECT message, created_at FROM device_logs WHERE tenant_id = ? ORDER BY id DESC LIMIT ?", [.text(tenant), .int(Int64(limit))])
            .map { (try $0.string("message"), try $0.int("created_at")) }
    }
}
