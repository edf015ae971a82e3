/// What a ledger entry is. Every entry has one; earning creates a lot, the others take from lots.
public enum EntryType: String, Sendable, CaseIterable, Hashable {
    /// Points a purchase (or a partner's transaction) credited.
    case earn
    /// Points spent on a reward (or a partner's negative transaction).
    case redeem
    /// A correction by hand, either way; it needs a reason.
    case adjust
    /// What was left of a lot when it expired.
    case expire
    /// Points a refunded purchase had earned, taken back.
    case refund

    /// The type of a partner's `{"points": n}` transaction that names none.
    public static func ofTransaction(points: Int64) -> EntryType { points > 0 ? .earn : .redeem }
}

/// Points earned together, spent and expiring together: the balance is the sum of what is
/// left of a card's lots, and the ledger's sum, at every commit.
public struct PointLot: Sendable, Equatable {
    public let id: Int64
    public var remaining: Int64
    /// Nil: these points never expire.
    public var expiresAt: Int64?

    public init(id: Int64, remaining: Int64, expiresAt: Int64?) {
        self.id = id
        self.remaining = remaining
        self.expiresAt = expiresAt
    }
}

public enum LotAccounting {
    /// Takes `points` from `lots`, those expiring soonest first (points that never expire last;
    /// ties by age), which is oldest first under either expiry basis and costs the member least.
    /// - Returns: what each touched lot gives, in that order; less in total than `points` only
    ///   when the lots hold less (the caller's balance check prevents it).
    public static func take(_ points: Int64, from lots: [PointLot]) -> [(id: Int64, taken: Int64)] {
        var wanted = max(0, points)
        var taken: [(id: Int64, taken: Int64)] = []
        for lot in order(lots) where wanted > 0 && lot.remaining > 0 {
            let take = min(lot.remaining, wanted)
            taken.append((lot.id, take))
            wanted -= take
        }
        return taken
    }

    /// Soonest expiry first; never-expiring last; then by id (age).
    public static func order(_ lots: [PointLot]) -> [PointLot] {
        lots.sorted { a, b in
            switch (a.expiresAt, b.expiresAt) {
            case let (x?, y?) where x != y: x < y
            case (_?, nil): true
            case (nil, _?): false
            default: a.id < b.id
            }
        }
    }
}

/// The points a refund takes back: the purchase's points in proportion to the amount refunded
/// so far, less what earlier refunds took, and never more than is left of the purchase's own
/// lot (points already spent stay spent; taking them from other lots would punish the member
/// twice for one refund).
public enum RefundRule {
    /// - Parameters:
    ///   - earned: the points the purchase earned.
    ///   - amount: the purchase's amount; `refundedBefore + refunding` ≤ `amount`.
    ///   - reversedBefore: points earlier refunds of it took back.
    ///   - lotRemaining: what is left of the lot it earned.
    public static func points(earned: Int64, amount: Int64, refundedBefore: Int64, refunding: Int64, reversedBefore: Int64, lotRemaining: Int64) -> Int64 {
        guard amount > 0, earned > 0 else { return 0 }
        let refundedTotal = refundedBefore + refunding
        // earned × refundedTotal can pass 64 bits (10^9 × 10^12): multiply and divide in 128.
        let due: Int64
        if refundedTotal >= amount {
            due = earned
        } else {
            let product = earned.multipliedFullWidth(by: refundedTotal)
            due = amount.dividingFullWidth((high: product.high, low: product.low)).quotient
        }
        return max(0, min(due - reversedBefore, lotRemaining))
    }
}
