import PasslineJSON

/// The fields of a card that follow from its points and its program rather than from what a
/// partner sent: the words of its soonest expiry, the stage its colours follow, and its tier.
/// Computed from the card's state alone, so any change (an earn, a redemption, an expiry, a
/// reminder) draws the same look, in the change's own version.
public enum CardLook {
    public static let expiringKey = "pointsExpiring"
    public static let stageKey = "expiryStage"
    public static let tierKey = "tier"

    /// `fields` with the derived ones set.
    /// - Parameters:
    ///   - lots: the card's lots with points left.
    ///   - earnedInWindow: points earned within the program's tier window (nil: no tiers).
    public static func fields(_ fields: JSONObject, lots: [PointLot], earnedInWindow: Int64?, now: Int64, program: Program) -> JSONObject {
        var fields = fields
        let soonest = lots.filter { $0.remaining > 0 }.compactMap(\.expiresAt).filter { $0 > now }.min()
        let stage = ReminderSchedule.stage(soonestExpiry: soonest, now: now, program: program)
        if stage != "calm", let soonest {
            let points = lots.filter { $0.expiresAt == soonest }.map(\.remaining).reduce(0, +)
            fields[expiringKey] = .string(ReminderSchedule.text(points: points, expiresAt: soonest, stage: stage, program: program))
            fields[stageKey] = .string(stage)
        } else if fields[expiringKey] != nil || fields[stageKey] != nil {
            // A card that was reminded goes back to calm; one never reminded is left as it was.
            fields[expiringKey] = nil
            fields[stageKey] = .string("calm")
        }
        if let tiers = program.tiers {
            fields[tierKey] = .string(tiers.tier(earned: max(0, earnedInWindow ?? 0)))
        }
        return fields
    }
}
