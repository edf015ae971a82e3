import LoyaltyRules
import PasslineJSON

extension WalletOptions {
    /// The pass.json keys for these options, by Apple's Wallet Passes reference: `relevantDates`
    /// (iOS 18) with each moment under both `relevantDate` (iOS 18) and `date` (iOS 26), and the
    /// deprecated top-level `relevantDate` from the first entry so older iOS sees it too.
    var applePassKeys: [String: JSONValue] {
        var keys: [String: JSONValue] = [:]
        if let first = relevantDates.first {
            keys["relevantDates"] = .array(relevantDates.map { date in
                switch date {
                case .moment(let at):
                    let text = JSONValue.string(Timestamp.format(at))
                    return .object(JSONObject([("relevantDate", text), ("date", text)]))
                case .interval(let start, let end):
                    return .object(JSONObject([("startDate", .string(Timestamp.format(start))), ("endDate", .string(Timestamp.format(end)))]))
                }
            })
            switch first {
            case .moment(let at), .interval(let at, _): keys["relevantDate"] = .string(Timestamp.format(at))
            }
        }
        // Places read as Apple names them already.
        let own = json
        for key in ["locations", "maxDistance"] { keys[key] = own[key] }
        return keys
    }
}
