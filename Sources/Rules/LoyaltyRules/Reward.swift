import PasslineJSON

/// Something a member can spend points on: its cost, how often one member may take it, and
/// when it is offered.
public struct Reward: Sendable, Equatable {
    /// At most `count` redemptions per member in any `perDays` days.
    public struct Limit: Sendable, Equatable {
        public var count: Int64
        public var perDays: Int64
        public init(count: Int64, perDays: Int64) {
            self.count = count
            self.perDays = perDays
        }
    }

    public var name: String
    public var cost: Int64
    public var description: String?
    public var limit: Limit?
    public var activeFrom: Int64?
    public var activeUntil: Int64?

    public init(name: String, cost: Int64, description: String? = nil, limit: Limit? = nil, activeFrom: Int64? = nil, activeUntil: Int64? = nil) {
        self.name = name; self.cost = cost; self.description = description; self.limit = limit
        self.activeFrom = activeFrom; self.activeUntil = activeUntil
    }

    /// Whether it is offered at `time`: from `activeFrom` (inclusive) until `activeUntil` (exclusive).
    public func isActive(at time: Int64) -> Bool {
        (activeFrom.map { time >= $0 } ?? true) && (activeUntil.map { time < $0 } ?? true)
    }

    /// Why a card holding `balance`, which took this reward `taken` times in the limit's
    /// window, may not take it at `time`; nil when it may.
    public func refusal(balance: Int64, taken: Int64, at time: Int64) -> DomainError? {
        if !isActive(at: time) {
            return DomainError(.conflict, "The reward \(name) is not offered at \(Timestamp.format(time))"
                + (activeFrom.map { " (offered from \(Timestamp.format($0))" } ?? " (") + (activeUntil.map { " until \(Timestamp.format($0)))" } ?? ")") + ".")
        }
        if let limit, taken >= limit.count {
            return DomainError(.conflict, "The card has taken \(name) \(taken) time\(taken == 1 ? "" : "s") in the last \(limit.perDays) days; the limit is \(limit.count).")
        }
        if balance < cost { return DomainError(.conflict, "\(name) costs \(cost) points; the card has \(balance).") }
        return nil
    }

    /// Reads a reward from its JSON, naming every fault.
    public static func parse(_ object: JSONObject) throws(DomainError) -> Reward {
        var faults: [DomainError.Fault] = []
        let known = ["name", "cost", "description", "limit", "activeFrom", "activeUntil"]
        for key in object.keys where !known.contains(key) { faults.append(.init(key, "is not a field of a reward (\(known.joined(separator: ", ")))")) }
        var name = ""
        switch object["name"] {
        case .string(let text)? where !text.isEmpty && text.count <= 100 && !text.utf8.contains(where: { $0 < 0x20 }): name = text
        case nil: faults.append(.init("name", "is required"))
        case let other?: faults.append(.init("name", other.stringValue == nil ? "must be a string, found \(other.typeName)" : "must be 1 to 100 characters, without control characters"))
        }
        var cost: Int64 = 0
        switch object["cost"] {
        case .int(let value)? where value >= 1 && value <= PointsRules.maxChange: cost = value
        case nil: faults.append(.init("cost", "is required (points, 1 to 1,000,000,000)"))
        case let other?: faults.append(.init("cost", "must be 1 to 1,000,000,000 points (an integer), found \(JSONWriter.string(other).prefix(40))"))
        }
        var description: String?
        switch object["description"] {
        case nil, .null?: break
        case .string(let text)? where text.count <= 500 && !text.utf8.contains(0): description = text
        case let other?: faults.append(.init("description", other.stringValue == nil ? "must be a string, found \(other.typeName)" : "must be at most 500 characters"))
        }
        var limit: Limit?
        switch object["limit"] {
        case nil, .null?: break
        case .object(let value)?:
            for key in value.keys where !["count", "perDays"].contains(key) { faults.append(.init("limit.\(key)", "is not a field of a limit (count, perDays)")) }
            var parsed = Limit(count: 1, perDays: 1)
            for (key, range) in [("count", Int64(1)...1_000), ("perDays", Int64(1)...3_650)] {
                switch value[key] {
                case .int(let number)? where range.contains(number): if key == "count" { parsed.count = number } else { parsed.perDays = number }
                case nil: faults.append(.init("limit.\(key)", "is required"))
                case let other?: faults.append(.init("limit.\(key)", "must be \(range.lowerBound) to \(range.upperBound), found \(JSONWriter.string(other).prefix(40))"))
                }
            }
            limit = parsed
        case let other?: faults.append(.init("limit", "must be an object {count, perDays}, found \(other.typeName)"))
        }
        func time(_ key: String) -> Int64? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let text)?:
                if let value = Timestamp.parse(text) { return value }
                faults.append(.init(key, "must be an RFC 3339 time such as 2027-01-01T00:00:00Z")); return nil
            case let other?: faults.append(.init(key, "must be an RFC 3339 time (a string), found \(other.typeName)")); return nil
            }
        }
        let from = time("activeFrom"), until = time("activeUntil")
        if let from, let until, until <= from { faults.append(.init("activeUntil", "must be after activeFrom")) }
        try DomainError.check(faults, "The reward is not valid")
        return Reward(name: name, cost: cost, description: description, limit: limit, activeFrom: from, activeUntil: until)
    }

    public var json: JSONObject {
        var object = JSONObject([("name", .string(name)), ("cost", .int(cost))])
        object["description"] = description.map(JSONValue.string) ?? .null
        object["limit"] = limit.map { .object(JSONObject([("count", .int($0.count)), ("perDays", .int($0.perDays))])) } ?? .null
        object["activeFrom"] = activeFrom.map { .string(Timestamp.format($0)) } ?? .null
        object["activeUntil"] = activeUntil.map { .string(Timestamp.format($0)) } ?? .null
        return object
    }
}
