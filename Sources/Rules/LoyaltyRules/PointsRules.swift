/// The rules of a card's points balance. The store enforces the bounds inside its update (a
/// balance is checked where it changes, under the row's lock, so concurrent changes cannot
/// pass a check together), with the values and the words from here.
public enum PointsRules {
    /// The most one change may move a balance by, either way.
    public static let maxChange: Int64 = 1_000_000_000
    /// The largest balance a card may hold: far from where `points + change` could overflow in
    /// Swift, SQLite (which would turn it into a float) or PostgreSQL's bigint.
    public static let maxBalance: Int64 = 1_000_000_000_000
    /// The balances a card may have: never below zero (nothing is redeemed on credit), never
    /// past `maxBalance`.
    public static let balances: ClosedRange<Int64> = 0...maxBalance

    /// Refuses a change no card may take, whatever its balance.
    /// - Throws: `DomainError.invalid` naming the value.
    public static func validate(points: Int64, reason: String, amount: Int64?) throws {
        guard points != 0 else { throw DomainError(.invalid, "points must not be zero.") }
        // Compared, not `abs`'d: abs(Int64.min) traps.
        guard points >= -maxChange && points <= maxChange else { throw DomainError(.invalid, "points must be within ±1,000,000,000, found \(points).") }
        try TextRules.check(reason, field: "reason", maxLength: 200)
        if let amount, amount < 0 { throw DomainError(.invalid, "amount must be zero or more minor units, found \(amount).") }
    }

    /// Whether a card holding `balance` may take `points`: the same test the store's update makes.
    public static func allows(_ points: Int64, on balance: Int64, voided: Bool) -> Bool {
        // Both within ±maxBalance + maxChange: the sum cannot overflow.
        !voided && balances.contains(balance + points)
    }

    /// Why a card holding `balance` (and voided or not) does not take `points`.
    public static func refusal(serial: String, balance: Int64, voided: Bool, points: Int64) -> DomainError {
        if voided { return DomainError(.conflict, "Card \(serial) is voided; it takes no more transactions.") }
        if points > 0 {
            return DomainError(.conflict, "Earning \(points) points would take the balance of \(balance) past the most a card may hold, 1,000,000,000,000.")
        }
        return DomainError(.conflict, "Redeeming \(-points) points exceeds the balance of \(balance).")
    }
}
