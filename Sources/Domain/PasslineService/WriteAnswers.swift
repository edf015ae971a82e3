import LoyaltyRules
import PasslineCrypto
import PasslineSQL
import PasslineStore

/// What a write that may be replayed answered: made now, or the answer it had the first time.
public enum WriteAnswer: Sendable {
    case created([UInt8])
    case replayed(status: Int, body: [UInt8])
}

/// The stored answers of writes with an `Idempotency-Key`, and the one change a single write
/// made through the ledger, told apart from a refusal.
enum WriteAnswers {
    /// The answer stored under `key` (already scoped to the mode), or nil when there is none.
    /// - Throws: `DomainError.invalid` when the key was used with another request.
    static func stored(tenant: String, key: String, requestHash: [UInt8], database: any SQLDatabase) async throws -> WriteAnswer? {
        guard let stored = try await database.withConnection({ try Idempotency.find(tenant: tenant, key: key, on: $0) }) else { return nil }
        guard ConstantTime.equal(stored.requestHash, requestHash) else {
            throw DomainError(.invalid, "The Idempotency-Key \(Idempotency.unscoped(key)) was used with another request; use a new key for a new request.")
        }
        return .replayed(status: stored.status, body: stored.body)
    }

    /// The body of a batch of one that applied, and whether it pushed to any device.
    /// - Throws: the refusal, or `.conflict` when another request holds the key.
    static func single(_ result: Ledger.BatchResult, key: String?) throws -> (body: [UInt8], pushed: Bool) {
        switch result {
        case .applied(let outcome, let body): return (body, outcome.pushes > 0)
        case .refused(let error): throw error
        case .keyTaken: throw DomainError(.conflict, "Another request with the Idempotency-Key \(key.map(Idempotency.unscoped) ?? "") is in progress; try again.")
        }
    }
}
