import PasslineJSON

/// Something that happened to a tenant's cards that a partner may want to hear of: written in
/// the transaction of the change that caused it (an outbox), and delivered to the tenant's
/// webhook endpoints after the commit. The change's own code builds it from what it has in
/// hand, so no event costs another pass over the data.
public struct DomainEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case cardCreated = "card.created"
        case cardUpdated = "card.updated"
        case cardVoided = "card.voided"
        /// A ledger entry: earn, redeem, adjust, expire or refund.
        case transactionCreated = "transaction.created"
        /// A reminder milestone: points of a lot expire in so many days.
        case pointsExpiring = "points.expiring"
        case rewardRedeemed = "reward.redeemed"
        /// An Apple device registered for the card (or a Google save, when Google reports one).
        case passInstalled = "pass.installed"
        case passRemoved = "pass.removed"
        case campaignFinished = "campaign.finished"
        /// A device's push was given up on.
        case pushFailed = "push.failed"
        /// An endpoint that kept failing was disabled (sent to the tenant's other endpoints).
        case endpointDisabled = "webhook_endpoint.disabled"
    }

    public var kind: Kind
    /// A snapshot of the object, as the partner API shows it.
    public var data: JSONObject

    public init(_ kind: Kind, _ data: JSONObject) {
        self.kind = kind
        self.data = data
    }

    /// A ledger entry's event, from the entry and the card it left behind.
    public static func transaction(serial: String, entryID: Int64, type: EntryType, points: Int64, balanceAfter: Int64, reason: String,
                                   amount: Int64?, createdAt: Int64, version: Int64, programVersion: Int64?, purchaseReference: String?) -> DomainEvent {
        var entry = JSONObject([
            ("id", .int(entryID)), ("serialNumber", .string(serial)), ("type", .string(type.rawValue)), ("points", .int(points)),
            ("balanceAfter", .int(balanceAfter)), ("reason", .string(reason)), ("createdAt", .string(Timestamp.format(createdAt))),
        ])
        if let amount { entry["amount"] = .int(amount) }
        if let programVersion { entry["programVersion"] = .int(programVersion) }
        if let purchaseReference { entry["purchase"] = .string(purchaseReference) }
        return DomainEvent(.transactionCreated, JSONObject([("transaction", .object(entry)), ("card", .object(JSONObject([
            ("serialNumber", .string(serial)), ("points", .int(balanceAfter)), ("version", .int(version)),
        ])))]))
    }

    public static func rewardRedeemed(reward: String, serial: String, cost: Int64, reason: String, balanceAfter: Int64, entryID: Int64) -> DomainEvent {
        DomainEvent(.rewardRedeemed, JSONObject([
            ("reward", .string(reward)), ("serialNumber", .string(serial)), ("cost", .int(cost)), ("reason", .string(reason)),
            ("points", .int(balanceAfter)), ("transaction", .int(entryID)),
        ]))
    }

    public static func pointsExpiring(serial: String, points: Int64, expiresAt: Int64, daysBefore: Int64, words: String?) -> DomainEvent {
        var data = JSONObject([("serialNumber", .string(serial)), ("points", .int(points)), ("expiresAt", .string(Timestamp.format(expiresAt))),
                               ("daysBefore", .int(daysBefore))])
        if let words { data["text"] = .string(words) }
        return DomainEvent(.pointsExpiring, data)
    }
}
