import PasslineJSON

/// Which cards of a template a message goes to: every condition given must hold. No condition:
/// every card.
public struct Segment: Sendable, Equatable {
    /// A balance of at least this many points.
    public var minBalance: Int64?
    /// Points that expire within this many days.
    public var expiringWithinDays: Int64?
    /// No purchase or redemption in this many days.
    public var noVisitForDays: Int64?

    public init(minBalance: Int64? = nil, expiringWithinDays: Int64? = nil, noVisitForDays: Int64? = nil) {
        self.minBalance = minBalance; self.expiringWithinDays = expiringWithinDays; self.noVisitForDays = noVisitForDays
    }

    public var isEverybody: Bool { minBalance == nil && expiringWithinDays == nil && noVisitForDays == nil }

    /// - Throws: `DomainError.invalid` naming each condition out of range.
    public func validate() throws {
        var faults: [DomainError.Fault] = []
        if let minBalance, !(0...PointsRules.maxBalance).contains(minBalance) { faults.append(.init("segment.minBalance", "must be 0 to \(PointsRules.maxBalance)")) }
        if let days = expiringWithinDays, !(1...3650).contains(days) { faults.append(.init("segment.expiringWithinDays", "must be 1 to 3,650 days")) }
        if let days = noVisitForDays, !(1...3650).contains(days) { faults.append(.init("segment.noVisitForDays", "must be 1 to 3,650 days")) }
        try DomainError.check(faults, "The segment is not valid")
    }

    /// In words, for the campaign list: "balance at least 100, no visit for 60 days".
    public var description: String {
        let parts = [minBalance.map { "balance at least \($0)" }, expiringWithinDays.map { "points expiring within \($0) days" },
                     noVisitForDays.map { "no visit for \($0) days" }].compactMap { $0 }
        return parts.isEmpty ? "every card" : parts.joined(separator: ", ")
    }

    public var json: String {
        var object = JSONObject()
        if let minBalance { object["minBalance"] = .int(minBalance) }
        if let expiringWithinDays { object["expiringWithinDays"] = .int(expiringWithinDays) }
        if let noVisitForDays { object["noVisitForDays"] = .int(noVisitForDays) }
        return JSONWriter.string(.object(object))
    }

    public init(json: String) {
        let object = (try? JSONParser.parse(json))?.objectValue ?? JSONObject()
        self.init(minBalance: object["minBalance"]?.intValue, expiringWithinDays: object["expiringWithinDays"]?.intValue,
                  noVisitForDays: object["noVisitForDays"]?.intValue)
    }
}
