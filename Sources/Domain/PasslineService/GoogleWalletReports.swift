import GoogleWallet
import LoyaltyRules
import PasslineSQL
import PasslineStore

/// Where Google's current root signing keys come from (its keys URL, through the Google adapter).
public protocol GoogleRootKeySource: Sendable {
    /// - Parameter refresh: fetch again even if a list is cached (a report failed to check).
    func rootKeys(refresh: Bool) async throws -> WalletCallback.RootKeys
}

/// Receives Google's signed reports of saves and deletions, checks them against Google's keys
/// and the tenant's issuer, and counts each once.
public final class GoogleWalletReports: Sendable {
    let database: any SQLDatabase
    let keys: any GoogleRootKeySource

    public init(database: any SQLDatabase, keys: any GoogleRootKeySource) {
        self.database = database
        self.keys = keys
    }

    public enum Outcome: Sendable, Equatable {
        case counted(tenant: String, serial: String, saved: Bool)
        /// Sent before (Google retries with the same nonce): counted then.
        case repeated
        /// No card's object has that id (deleted since, or never synced): nothing to count.
        case unknownObject
    }

    /// - Throws: `DomainError.invalid` naming why the report was refused (a bad signature, an
    ///   expired key or report, another issuer's object).
    public func receive(_ body: [UInt8], now: Int64 = WallClock.milliseconds()) async throws -> Outcome {
        let claimed: WalletCallback
        do { claimed = try WalletCallback.peek(body) } catch { throw DomainError(.invalid, "Google's report was refused: \(error.message)") }
        guard let owner = try await database.withConnection({ connection -> (tenant: String, serial: String, issuer: String)? in
            guard let owner = try GoogleReports.owner(objectID: claimed.objectID, on: connection),
                  let issuer = try connection.first("SELECT issuer_id FROM google_issuers WHERE tenant_id = ?", [.text(owner.tenant)])?.string("issuer_id")
            else { return nil }
            return (owner.tenant, owner.serial, issuer)
        }) else { return .unknownObject }
        // Google rotates its keys: a report that fails against the cached list gets one fresh look.
        let report: WalletCallback
        do {
            report = try WalletCallback.open(body, issuer: owner.issuer, rootKeys: try await keys.rootKeys(refresh: false), now: now)
        } catch {
            do { report = try WalletCallback.open(body, issuer: owner.issuer, rootKeys: try await keys.rootKeys(refresh: true), now: now) } catch let refusal {
                throw DomainError(.invalid, "Google's report was refused: \(refusal)")
            }
        }
        let saved = report.eventType == .save, nonce = report.nonce
        let outcome = try await database.transaction { connection in
            try GoogleReports.record(tenant: owner.tenant, serial: owner.serial, saved: saved, nonce: nonce, now: now, on: connection)
        }
        return outcome == .repeated ? .repeated : .counted(tenant: owner.tenant, serial: owner.serial, saved: saved)
    }
}
