import PasslineStore

// The store's value types that the domain's operations take and return, under the names the
// adapters use. The adapters import this module only; the compiler keeps them off the store.

/// What a domain operation refuses, with the words a user needs (not found, conflict, invalid,
/// quota exceeded); the HTTP adapter maps each kind to its status in one place.
public typealias DomainError = StoreError
/// A change to many cards' fields (a campaign's, or one message's).
public typealias CardChange = Campaigns.Change
public typealias Campaign = Campaigns.Campaign
/// One line of a card's points ledger.
public typealias LedgerEntry = Ledger.Entry
/// What a points transaction did: the entry, the balance after it, the card's new version.
public typealias TransactionOutcome = Ledger.Outcome
/// A device's answer to "which passes changed since this tag".
public typealias ChangedSerials = UpdatedSerials

/// The bounds on points that keep every sum within 64 bits.
public enum PointsLimits {
    /// The largest earn or redemption in one transaction.
    public static let maxChange = Ledger.maxChange
    /// The largest balance a card may hold.
    public static let maxBalance = Ledger.maxBalance
}

/// The durable queue that changes put their work on (pushes, Google syncs, campaign steps).
public typealias WorkQueue = JobQueue
public typealias CardMode = PasslineStore.CardMode
public typealias PushOutcome = PasslineStore.PushOutcome
/// The back field a message to a card's holder goes into.
public typealias MessageField = PasslineStore.MessageField
