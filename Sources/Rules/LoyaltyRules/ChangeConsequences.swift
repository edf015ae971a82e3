/// What a committed change to a card must cause, decided here and written by the store in the
/// change's own transaction (DESIGN.md: nothing committed is lost).
///
/// Every change that a holder could see (balance, fields, message, voiding, a reissue) causes
/// the same two things: one APNs push to each device registered for the card, one per (push
/// token, pass type) however many of the cards a device holds, so that Wallet asks for the
/// pass again; and a sync of the card's Google Wallet object. What differs is how urgently.
public struct ChangeConsequences: Sendable, Equatable {
    public enum Urgency: Sendable, Equatable {
        /// A person is waiting for it (a front desk, a partner's request): ahead of bulk work.
        case interactive
        /// A campaign's step: behind interactive work, so a campaign never delays a visit.
        case bulk
    }

    public let urgency: Urgency
    /// The campaign a push belongs to, for its delivery report.
    public let campaign: String?

    public init(urgency: Urgency, campaign: String?) {
        self.urgency = urgency
        self.campaign = campaign
    }

    /// A single change to one card (points, fields, a message, voiding, a reissue).
    public static let singleChange = ChangeConsequences(urgency: .interactive, campaign: nil)
    /// One step of a campaign.
    public static func campaignStep(_ id: String) -> ChangeConsequences { ChangeConsequences(urgency: .bulk, campaign: id) }

    /// Whether the card's devices are really sent the push: a test-mode card's pushes are
    /// recorded as sent and never reach Apple, so a partner's integration tests cannot.
    public static func reachesDevices(_ mode: CardMode) -> Bool { mode == .live }
}
