import LoyaltyRules
import PasslineSQL

/// What became of one push, as the sender records it and the API and `/metrics` report it,
/// in the order they list them.
public enum PushOutcome: String, Sendable, CaseIterable, Hashable {
    /// APNs accepted it.
    case delivered
    /// APNs answered 410 Unregistered: the device's registrations from before then went.
    case unregistered
    /// APNs said the token is not one of this topic's (a bad or foreign token): its registrations went.
    case removed
    /// A transient failure; another attempt follows.
    case retrying
    /// APNs answered 429; the token waits.
    case throttled
    /// It failed on its last attempt (no answer, or a transient refusal).
    case failed
    /// It cannot succeed: APNs refused it for good, or the job could not be sent at all.
    case dead
    /// The tenant's pushes are paused (APNs refused its certificate).
    case paused
}

extension SQLRow {
    /// A `mode` column: the schema's CHECK allows only these two.
    public func mode(_ column: String) throws -> CardMode {
        let text = try string(column)
        guard let mode = CardMode(rawValue: text) else { throw SQLError(.other, "The column \(column) holds \(text), not live or test.") }
        return mode
    }
}
