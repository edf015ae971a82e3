import Foundation
import GoogleWallet
import LoyaltyRules
import PasslineCrypto
import PasslineSQL
import PasslineStore

/// Each tenant's Google Wallet settings: its issuer id and the service account that acts for
/// it, the account's key sealed with the master key like every other private key.
public struct GoogleIssuers: Sendable {
    public let database: any SQLDatabase
    public let secrets: SecretBox

    public init(database: any SQLDatabase, secrets: SecretBox) {
        self.database = database
        self.secrets = secrets
    }

    /// What a tenant's sync runs with.
    public struct Settings: Sendable {
        public let tenant: String
        public let issuerID: String
        public let account: ServiceAccountKey
        /// The program logo's public https URL, when the tenant set one (else Passline serves it).
        public let logoURL: String?
        /// Web origins allowed to show the save button.
        public let origins: [String]
        public let pausedReason: String?
        public let updatedAt: Int64
    }

    /// What an operator may see: no key material.
    public struct Info: Sendable, Equatable, Codable {
        public let issuerId: String
        public let serviceAccountEmail: String
        public let logoURL: String?
        public let origins: [String]
        public let pausedReason: String?

        enum CodingKeys: String, CodingKey {
            case issuerId, serviceAccountEmail, logoURL = "logoUrl", origins, pausedReason
        }
    }

    /// Sets (or replaces) the tenant's Google settings, and enqueues a sync of every live card
    /// so that existing cards get their objects too. A pause from an earlier 403 is lifted.
    /// - Throws: `GoogleWalletError` for a bad issuer id, key file, logo URL or origin;
    ///   `DomainError.notFound` for an unknown tenant.
    @discardableResult
    public func set(tenant: String, issuerID: String, serviceAccountJSON: [UInt8], logoURL: String? = nil, origins: [String] = [],
                    now: Int64 = WallClock.milliseconds()) async throws -> (info: Info, cardsQueued: Int) {
        try WalletIDs.checkIssuer(issuerID)
        let account = try ServiceAccountKey(json: serviceAccountJSON)
        if let logoURL {
            guard let url = URL(string: logoURL), url.scheme == "https", url.host != nil else {
                throw GoogleWalletError(.invalidConfiguration, "The logo URL \(logoURL) is not a public https URL; Google fetches the program logo itself.")
            }
        }
        for origin in origins {
            guard let url = URL(string: origin), ["https", "http"].contains(url.scheme ?? ""), url.host != nil, url.path.isEmpty || url.path == "/" else {
                throw GoogleWalletError(.invalidConfiguration, "The origin \(origin) is not a web origin such as https://example.com.")
            }
        }
        let sealed = try secrets.seal(serviceAccountJSON, context: Self.context(tenant))
        let queued = try await database.transaction { connection -> Int in
            guard try connection.first("SELECT 1 AS one FROM tenants WHERE id = ?", [.text(tenant)]) != nil else {
                throw DomainError(.notFound, "Tenant \(tenant) does not exist.")
            }
            let previous = try connection.first("SELECT issuer_id FROM google_issuers WHERE tenant_id = ?", [.text(tenant)])
            if let previous, try previous.string("issuer_id") != issuerID { try GoogleSync.forget(tenant: tenant, on: connection) }
            try connection.execute("""
                INSERT INTO google_issuers (tenant_id, issuer_id, service_account_email, service_account_key_encrypted, key_id, logo_url, origins,
                                            paused_reason, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)
                ON CONFLICT (tenant_id) DO UPDATE SET issuer_id = excluded.issuer_id, service_account_email = excluded.service_account_email,
                    service_account_key_encrypted = excluded.service_account_key_encrypted, key_id = excluded.key_id, logo_url = excluded.logo_url,
                    origins = excluded.origins, paused_reason = NULL, updated_at = excluded.updated_at
                """, [.text(tenant), .text(issuerID), .text(account.clientEmail), .blob(sealed), SQLValue(account.keyID), SQLValue(logoURL),
                      .text(origins.joined(separator: " ")), .int(now)])
            return try GoogleSync.enqueueAll(tenant: tenant, now: now, on: connection)
        }
        return (Info(issuerId: issuerID, serviceAccountEmail: account.clientEmail, logoURL: logoURL, origins: origins, pausedReason: nil), queued)
    }

    /// The tenant's settings with the key unsealed; nil when Google is not set up.
    public func settings(tenant: String) async throws -> Settings? {
        guard let row = try await database.withConnection({ connection in
            try connection.first("SELECT * FROM google_issuers WHERE tenant_id = ?", [.text(tenant)])
        }) else { return nil }
        let json = try secrets.open(try row.blob("service_account_key_encrypted"), context: Self.context(tenant))
        return Settings(tenant: tenant, issuerID: try row.string("issuer_id"), account: try ServiceAccountKey(json: json),
                        logoURL: try row.optionalString("logo_url"), origins: try row.string("origins").split(separator: " ").map(String.init),
                        pausedReason: try row.optionalString("paused_reason"), updatedAt: try row.int("updated_at"))
    }

    public func info(tenant: String) async throws -> Info? {
        guard let row = try await database.withConnection({ connection in
            try connection.first("SELECT issuer_id, service_account_email, logo_url, origins, paused_reason FROM google_issuers WHERE tenant_id = ?", [.text(tenant)])
        }) else { return nil }
        return Info(issuerId: try row.string("issuer_id"), serviceAccountEmail: try row.string("service_account_email"),
                    logoURL: try row.optionalString("logo_url"), origins: try row.string("origins").split(separator: " ").map(String.init),
                    pausedReason: try row.optionalString("paused_reason"))
    }

    /// Whether the tenant has Google set up (the save link is offered only then).
    public func isConfigured(tenant: String) async throws -> Bool {
        try await database.withConnection { connection in
            try connection.first("SELECT 1 AS one FROM google_issuers WHERE tenant_id = ?", [.text(tenant)]) != nil
        }
    }

    /// Pauses the tenant's sync with the reason (a 403), unless the settings changed since `seen`.
    public func pause(tenant: String, reason: String, settingsUpdatedAt seen: Int64) async throws {
        _ = try await database.withConnection { connection in
            try connection.execute("UPDATE google_issuers SET paused_reason = ? WHERE tenant_id = ? AND updated_at = ?", [.text(reason), .text(tenant), .int(seen)])
        }
    }

    /// Lifts a pause (after the operator fixed the issuer's users, say), and queues the cards again.
    public func resume(tenant: String, now: Int64 = WallClock.milliseconds()) async throws {
        _ = try await database.transaction { connection in
            try connection.execute("UPDATE google_issuers SET paused_reason = NULL, updated_at = ? WHERE tenant_id = ?", [.int(now), .text(tenant)])
            return try GoogleSync.enqueueAll(tenant: tenant, now: now, on: connection)
        }
    }

    private static func context(_ tenant: String) -> String { "google_issuers.service_account_key:\(tenant)" }
}
