import Foundation
import PasslineJSON

/// A tenant's loyalty program: how purchases earn points, when points expire, and when holders
/// are reminded. Integers only: amounts in minor units, rates in whole percent.
public struct Program: Sendable, Equatable {
    /// Points for purchases paid with the named methods.
    public struct EarnRule: Sendable, Equatable {
        public var paymentMethods: [String]
        /// Points per 100 major units: 10 credits 10% of the amount (1 point per 10 euros).
        public var percent: Int64
        /// A purchase below this (minor units) earns nothing.
        public var minimumAmount: Int64

        public init(paymentMethods: [String], percent: Int64, minimumAmount: Int64 = 0) {
            self.paymentMethods = paymentMethods
            self.percent = percent
            self.minimumAmount = minimumAmount
        }
    }

    public enum Rounding: String, Sendable, CaseIterable {
        case down, nearest, up
    }

    /// How long points last: from when they were earned, or from the member's last purchase
    /// (every purchase then extends all of the member's points).
    public struct Expiry: Sendable, Equatable {
        public enum Basis: String, Sendable, CaseIterable {
            case earned, lastPurchase
        }
        public var afterDays: Int64
        public var from: Basis

        public init(afterDays: Int64, from: Basis = .earned) {
            self.afterDays = afterDays
            self.from = from
        }

        public func expiresAt(from start: Int64) -> Int64 { start + afterDays * Timestamp.millisecondsPerDay }
    }

    /// Hours of the tenant's day when no reminder is sent: from `start` (inclusive) to `end`
    /// (exclusive), wrapping midnight when start > end.
    public struct QuietHours: Sendable, Equatable {
        public var start: Int
        public var end: Int
        public init(start: Int, end: Int) {
            self.start = start
            self.end = end
        }

        public func contains(hour: Int) -> Bool { start < end ? (start..<end).contains(hour) : hour >= start || hour < end }
    }

    /// Tiers from points earned in a rolling window: a member is in the highest level whose
    /// `minPoints` the earnings of the last `windowDays` reach. The first level starts at 0, so
    /// every member is in one.
    public struct Tiers: Sendable, Equatable {
        public struct Level: Sendable, Equatable {
            public var name: String
            public var minPoints: Int64
            public init(name: String, minPoints: Int64) {
                self.name = name
                self.minPoints = minPoints
            }
        }
        public var windowDays: Int64
        /// Ascending by `minPoints`, the first at 0.
        public var levels: [Level]

        public init(windowDays: Int64, levels: [Level]) {
            self.windowDays = windowDays
            self.levels = levels
        }

        public func tier(earned: Int64) -> String { (levels.last { earned >= $0.minPoints } ?? levels[0]).name }

        /// Earnings at or after this time count towards the tier at `now`.
        public func windowStart(now: Int64) -> Int64 { now - windowDays * Timestamp.millisecondsPerDay }
    }

    public var currency: Currency
    public var earnRules: [EarnRule]
    public var rounding: Rounding
    /// Percent applied on top of the earn rule for members of a tier (150 = half again as many).
    public var tierMultipliers: [(tier: String, percent: Int64)]
    /// Nil: the program keeps no tiers (a partner may still set a card's `tier` itself).
    public var tiers: Tiers?
    /// Nil: points never expire.
    public var expiry: Expiry?
    /// Days before a lot expires when its holder is reminded, largest first.
    public var reminderDays: [Int64]
    /// The business's own words for a milestone's reminder (`{points}`, `{date}` and `{days}`
    /// filled in); a milestone without any says it in the default words.
    public var reminderTexts: [Int64: String] = [:]
    public var timeZone: String
    public var quietHours: QuietHours

    public init(currency: Currency, earnRules: [EarnRule], rounding: Rounding = .down, tierMultipliers: [(tier: String, percent: Int64)] = [],
                tiers: Tiers? = nil, expiry: Expiry? = nil, reminderDays: [Int64] = [28, 7], reminderTexts: [Int64: String] = [:], timeZone: String = "UTC", quietHours: QuietHours = QuietHours(start: 21, end: 9)) {
        self.currency = currency
        self.earnRules = earnRules
        self.rounding = rounding
        self.tierMultipliers = tierMultipliers
        self.tiers = tiers
        self.expiry = expiry
        self.reminderDays = reminderDays
        self.reminderTexts = reminderTexts
        self.timeZone = timeZone
        self.quietHours = quietHours
    }

    public static func == (a: Program, b: Program) -> Bool {
        a.currency == b.currency && a.earnRules == b.earnRules && a.rounding == b.rounding
            && a.tierMultipliers.map(\.tier) == b.tierMultipliers.map(\.tier) && a.tierMultipliers.map(\.percent) == b.tierMultipliers.map(\.percent)
            && a.tiers == b.tiers && a.expiry == b.expiry && a.reminderDays == b.reminderDays && a.reminderTexts == b.reminderTexts && a.timeZone == b.timeZone && a.quietHours == b.quietHours
    }

    // MARK: Limits

    /// The largest purchase amount, in minor units: with the largest rate and multiplier the
    /// product stays far inside 64 bits (10^12 × 1,000 × 1,000 = 10^18).
    public static let maxAmount: Int64 = 1_000_000_000_000
    public static let maxPercent: Int64 = 1_000
    public static let maxAfterDays: Int64 = 3_650

    // MARK: Earning

    /// The points a purchase earns: nothing for a payment method no rule names or an amount
    /// below the rule's minimum; else amount × percent (× the tier's multiplier), rounded as
    /// the program says. Integer arithmetic only.
    /// - Precondition: `amount` within 0...maxAmount (checked by `Purchase.validate`).
    public func points(amount: Int64, paymentMethod: String, tier: String? = nil) -> (points: Int64, rule: Int?) {
        guard let index = earnRules.firstIndex(where: { $0.paymentMethods.contains(paymentMethod) }) else { return (0, nil) }
        let rule = earnRules[index]
        guard amount >= rule.minimumAmount, amount > 0 else { return (0, index) }
        let multiplier = tier.flatMap { tier in tierMultipliers.first { $0.tier == tier }?.percent } ?? 100
        // amount × percent × multiplier / (100 × 100 × minor units per major unit), all within 64 bits.
        let numerator = amount * rule.percent * multiplier
        let denominator = 10_000 * currency.minorPerMajor
        let points = switch rounding {
        case .down: numerator / denominator
        case .up: numerator / denominator + (numerator % denominator == 0 ? 0 : 1)
        case .nearest: (numerator + denominator / 2) / denominator
        }
        return (points, index)
    }

    // MARK: Reading and writing

    /// Reads a program from its JSON, naming every fault.
    /// - Throws: `DomainError.invalid` with a fault per field.
    public static func parse(_ object: JSONObject) throws(DomainError) -> Program {
        var faults: [DomainError.Fault] = []
        let known: Set<String> = ["currency", "earnRules", "rounding", "tierMultipliers", "tiers", "expiry", "reminders", "timeZone", "quietHours", "effectiveAt"]
        for key in object.keys where !known.contains(key) {
            faults.append(.init(key, "is not a field of a program (they are \(known.sorted().joined(separator: ", ")))"))
        }
        func integer(_ value: JSONValue?, _ field: String, _ range: ClosedRange<Int64>, required: Bool = true, default fallback: Int64 = 0) -> Int64 {
            switch value {
            case nil where !required, .null? where !required: return fallback
            case .int(let number)? where range.contains(number): return number
            case nil, .null?: faults.append(.init(field, "is required")); return fallback
            case .int?: faults.append(.init(field, "must be \(range.lowerBound) to \(range.upperBound)")); return fallback
            case let other?: faults.append(.init(field, "must be an integer, found \(other.typeName)")); return fallback
            }
        }

        var currency = Currency("XXX")!
        switch object["currency"] {
        case .string(let code)?:
            if let parsed = Currency(code) { currency = parsed } else { faults.append(.init("currency", "must be an ISO 4217 code such as EUR, found \"\(code.prefix(20))\"")) }
        case nil: faults.append(.init("currency", "is required (an ISO 4217 code such as EUR)"))
        case let other?: faults.append(.init("currency", "must be a string, found \(other.typeName)"))
        }

        var rules: [EarnRule] = []
        var methodsSeen: [String: Int] = [:]
        switch object["earnRules"] {
        case .array(let items)? where items.count <= 20:
            for (index, item) in items.enumerated() {
                let field = "earnRules[\(index)]"
                guard let rule = item.objectValue else { faults.append(.init(field, "must be an object, found \(item.typeName)")); continue }
                for key in rule.keys where !["paymentMethods", "percent", "minimumAmount"].contains(key) {
                    faults.append(.init("\(field).\(key)", "is not a field of an earn rule (paymentMethods, percent, minimumAmount)"))
                }
                var methods: [String] = []
                switch rule["paymentMethods"] {
                case .array(let names)? where (1...20).contains(names.count):
                    for (position, name) in names.enumerated() {
                        guard let method = name.stringValue, PaymentMethod.isValid(method) else {
                            faults.append(.init("\(field).paymentMethods[\(position)]", PaymentMethod.rule)); continue
                        }
                        if let other = methodsSeen[method] {
                            faults.append(.init("\(field).paymentMethods[\(position)]", "\(method) is named by earnRules[\(other)] already; a method earns by one rule"))
                        }
                        methodsSeen[method] = index
                        methods.append(method)
                    }
                case .array?: faults.append(.init("\(field).paymentMethods", "must name 1 to 20 payment methods"))
                case nil: faults.append(.init("\(field).paymentMethods", "is required (for example [\"cash\"])"))
                case let other?: faults.append(.init("\(field).paymentMethods", "must be an array, found \(other.typeName)"))
                }
                let percent = integer(rule["percent"], "\(field).percent", 0...maxPercent)
                let minimum = integer(rule["minimumAmount"], "\(field).minimumAmount", 0...maxAmount, required: false)
                rules.append(EarnRule(paymentMethods: methods, percent: percent, minimumAmount: minimum))
            }
        case .array?: faults.append(.init("earnRules", "must have at most 20 rules"))
        case nil: faults.append(.init("earnRules", "is required (an empty list earns nothing)"))
        case let other?: faults.append(.init("earnRules", "must be an array, found \(other.typeName)"))
        }

        var rounding = Rounding.down
        switch object["rounding"] {
        case nil, .null?: break
        case .string(let text)? where Rounding(rawValue: text) != nil: rounding = Rounding(rawValue: text)!
        case let other?: faults.append(.init("rounding", "must be one of down, nearest, up, found \(JSONWriter.string(other).prefix(40))"))
        }

        var tiers: [(tier: String, percent: Int64)] = []
        switch object["tierMultipliers"] {
        case nil, .null?: break
        case .object(let members)? where members.count <= 20:
            for member in members.members {
                if member.key.isEmpty || member.key.count > 64 || member.key.utf8.contains(0) {
                    faults.append(.init("tierMultipliers", "tier names are 1 to 64 characters without NUL")); continue
                }
                tiers.append((member.key, integer(member.value, "tierMultipliers.\(member.key)", 0...maxPercent)))
            }
        case .object?: faults.append(.init("tierMultipliers", "must have at most 20 tiers"))
        case let other?: faults.append(.init("tierMultipliers", "must be an object of tier → percent, found \(other.typeName)"))
        }

        var tierLevels: Tiers?
        switch object["tiers"] {
        case nil, .null?: break
        case .object(let value)?:
            for key in value.keys where !["windowDays", "levels"].contains(key) { faults.append(.init("tiers.\(key)", "is not a field of tiers (windowDays, levels)")) }
            let window = integer(value["windowDays"], "tiers.windowDays", 1...maxAfterDays)
            var levels: [Tiers.Level] = []
            switch value["levels"] {
            case .array(let items)? where (1...10).contains(items.count):
                for (index, item) in items.enumerated() {
                    let field = "tiers.levels[\(index)]"
                    guard let level = item.objectValue else { faults.append(.init(field, "must be an object {name, minPoints}, found \(item.typeName)")); continue }
                    for key in level.keys where !["name", "minPoints"].contains(key) { faults.append(.init("\(field).\(key)", "is not a field of a level (name, minPoints)")) }
                    let minimum = integer(level["minPoints"], "\(field).minPoints", 0...PointsRules.balances.upperBound)
                    guard case .string(let name)? = level["name"], !name.isEmpty, name.count <= 64, !name.utf8.contains(0) else {
                        faults.append(.init("\(field).name", "is required: 1 to 64 characters without NUL")); continue
                    }
                    if levels.contains(where: { $0.name == name }) { faults.append(.init("\(field).name", "\(name) is named twice")) }
                    if index == 0 && minimum != 0 { faults.append(.init("\(field).minPoints", "must be 0: the first level is every member's")) }
                    if let previous = levels.last, minimum <= previous.minPoints {
                        faults.append(.init("\(field).minPoints", "must be more than the level before it (\(previous.minPoints))"))
                    }
                    levels.append(Tiers.Level(name: name, minPoints: minimum))
                }
            case .array?: faults.append(.init("tiers.levels", "must list 1 to 10 levels"))
            case nil: faults.append(.init("tiers.levels", "is required (for example [{\"name\": \"Member\", \"minPoints\": 0}, {\"name\": \"Gold\", \"minPoints\": 1000}])"))
            case let other?: faults.append(.init("tiers.levels", "must be an array, found \(other.typeName)"))
            }
            if !levels.isEmpty { tierLevels = Tiers(windowDays: window, levels: levels) }
        case let other?: faults.append(.init("tiers", "must be an object {windowDays, levels} or null (no tiers), found \(other.typeName)"))
        }
        if let tierLevels {
            for multiplier in tiers where !tierLevels.levels.contains(where: { $0.name == multiplier.tier }) {
                faults.append(.init("tierMultipliers.\(multiplier.tier)", "names no level of tiers (\(tierLevels.levels.map(\.name).joined(separator: ", ")))"))
            }
        }

        var expiry: Expiry?
        switch object["expiry"] {
        case nil, .null?: break
        case .object(let value)?:
            for key in value.keys where !["afterDays", "from"].contains(key) { faults.append(.init("expiry.\(key)", "is not a field of expiry (afterDays, from)")) }
            let days = integer(value["afterDays"], "expiry.afterDays", 1...maxAfterDays)
            var basis = Expiry.Basis.earned
            switch value["from"] {
            case nil, .null?: break
            case .string(let text)? where Expiry.Basis(rawValue: text) != nil: basis = Expiry.Basis(rawValue: text)!
            case let other?: faults.append(.init("expiry.from", "must be earned or lastPurchase, found \(JSONWriter.string(other).prefix(40))"))
            }
            expiry = Expiry(afterDays: days, from: basis)
        case let other?: faults.append(.init("expiry", "must be an object {afterDays, from} or null (points never expire), found \(other.typeName)"))
        }

        var reminderDays: [Int64] = [28, 7]
        var reminderTexts: [Int64: String] = [:]
        switch object["reminders"] {
        case nil, .null?: break
        case .object(let value)?:
            for key in value.keys where key != "daysBefore" && key != "texts" { faults.append(.init("reminders.\(key)", "is not a field of reminders (daysBefore, texts)")) }
            switch value["daysBefore"] {
            case .array(let items)? where items.count <= 5:
                reminderDays = []
                for (index, item) in items.enumerated() {
                    let day = integer(item, "reminders.daysBefore[\(index)]", 1...365)
                    if reminderDays.contains(day) { faults.append(.init("reminders.daysBefore[\(index)]", "\(day) is listed twice")) }
                    if let expiry, day >= expiry.afterDays {
                        faults.append(.init("reminders.daysBefore[\(index)]", "must be fewer than expiry.afterDays (\(expiry.afterDays))"))
                    }
                    reminderDays.append(day)
                }
                reminderDays.sort(by: >)
            case .array?: faults.append(.init("reminders.daysBefore", "must list at most 5 milestones"))
            case nil: faults.append(.init("reminders.daysBefore", "is required (for example [28, 7]; [] for no reminders)"))
            case let other?: faults.append(.init("reminders.daysBefore", "must be an array of days, found \(other.typeName)"))
            }
            switch value["texts"] {
            case nil, .null?: break
            case .object(let texts)?:
                for member in texts.members {
                    let field = "reminders.texts.\(member.key.prefix(12))"
                    guard let days = Int64(member.key), reminderDays.contains(days) else {
                        faults.append(.init(field, "names no milestone of daysBefore (\(reminderDays.map(String.init).joined(separator: ", ")))"))
                        continue
                    }
                    guard case .string(let text) = member.value else { faults.append(.init(field, "must be a string, found \(member.value.typeName)")); continue }
                    if let problem = ReminderWords.problem(text) { faults.append(.init(field, problem)); continue }
                    reminderTexts[days] = text
                }
            case let other?: faults.append(.init("reminders.texts", "must be an object of milestone → words, found \(other.typeName)"))
            }
        case let other?: faults.append(.init("reminders", "must be an object {daysBefore}, found \(other.typeName)"))
        }

        var timeZone = "UTC"
        switch object["timeZone"] {
        case nil, .null?: break
        case .string(let name)? where name.count <= 64 && !name.utf8.contains(0) && TimeZone(identifier: name) != nil: timeZone = name
        case .string(let name)?: faults.append(.init("timeZone", "must be an IANA time zone such as Europe/Berlin, found \"\(name.prefix(64))\""))
        case let other?: faults.append(.init("timeZone", "must be a string, found \(other.typeName)"))
        }

        var quiet = QuietHours(start: 21, end: 9)
        switch object["quietHours"] {
        case nil, .null?: break
        case .object(let value)?:
            for key in value.keys where !["start", "end"].contains(key) { faults.append(.init("quietHours.\(key)", "is not a field of quietHours (start, end)")) }
            let start = integer(value["start"], "quietHours.start", 0...23), end = integer(value["end"], "quietHours.end", 0...23)
            if start == end, value["start"]?.intValue != nil { faults.append(.init("quietHours.end", "must differ from start")) }
            quiet = QuietHours(start: Int(start), end: Int(end))
        case let other?: faults.append(.init("quietHours", "must be an object {start, end} of local hours, found \(other.typeName)"))
        }

        try DomainError.check(faults, "The program is not valid")
        return Program(currency: currency, earnRules: rules, rounding: rounding, tierMultipliers: tiers, tiers: tierLevels, expiry: expiry,
                       reminderDays: reminderDays, reminderTexts: reminderTexts, timeZone: timeZone, quietHours: quiet)
    }

    /// The program's JSON, in the shape `parse` reads.
    public var json: JSONObject {
        var object = JSONObject([
            ("currency", .string(currency.code)),
            ("earnRules", .array(earnRules.map { rule in
                .object(JSONObject([("paymentMethods", .array(rule.paymentMethods.map(JSONValue.string))), ("percent", .int(rule.percent)),
                                    ("minimumAmount", .int(rule.minimumAmount))]))
            })),
            ("rounding", .string(rounding.rawValue)),
            ("tierMultipliers", .object(JSONObject(tierMultipliers.map { ($0.tier, JSONValue.int($0.percent)) }))),
        ])
        object["tiers"] = tiers.map { tiers in
            .object(JSONObject([("windowDays", .int(tiers.windowDays)), ("levels", .array(tiers.levels.map { level in
                .object(JSONObject([("name", .string(level.name)), ("minPoints", .int(level.minPoints))]))
            }))]))
        } ?? .null
        object["expiry"] = expiry.map { .object(JSONObject([("afterDays", .int($0.afterDays)), ("from", .string($0.from.rawValue))])) } ?? .null
        var reminders = JSONObject([("daysBefore", .array(reminderDays.map(JSONValue.int)))])
        if !reminderTexts.isEmpty {
            reminders["texts"] = .object(JSONObject(reminderTexts.sorted { $0.key > $1.key }.map { (String($0.key), JSONValue.string($0.value)) }))
        }
        object["reminders"] = .object(reminders)
        object["timeZone"] = .string(timeZone)
        object["quietHours"] = .object(JSONObject([("start", .int(Int64(quietHours.start))), ("end", .int(Int64(quietHours.end)))]))
        return object
    }
}

/// How a purchase was paid, as the program's rules name it.
public enum PaymentMethod {
    static let rule = "must be a payment method name: 1 to 32 of a-z, 0-9, '-' and '_' (for example cash, card)"

    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 32
            && name.utf8.allSatisfy { ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }
}
