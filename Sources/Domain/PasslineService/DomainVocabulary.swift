import PasslineStore

// The store's value types that the domain's operations take and return, under the names the
// adapters use. The adapters import this module and LoyaltyRules only; the compiler keeps
// them off the store.

public typealias Campaign = Campaigns.Campaign
/// One line of a card's points ledger.
public typealias LedgerEntry = Ledger.Entry
/// What a points transaction did: the entry, the balance after it, the card's new version.
public typealias TransactionOutcome = Ledger.Outcome
/// A device's answer to "which passes changed since this tag".
public typealias ChangedSerials = UpdatedSerials

/// The durable queue that changes put their work on (pushes, Google syncs, campaign steps).
public typealias WorkQueue = JobQueue
public typealias PushOutcome = PasslineStore.PushOutcome
