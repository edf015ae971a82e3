import LoyaltyRules
import PasslineJSON
import Testing

/// The rules alone: no store, no server. The store's and the API's tests show them enforced.
@Suite("Loyalty rules, pure")
struct LoyaltyRulesTests {
    @Test("a points change is refused at zero and past ±maxChange, including Int64's ends, naming the value")
    func pointsBounds() throws {
        for points in [PointsRules.maxChange, -PointsRules.maxChange, 1, -1] {
            try PointsRules.validate(points: points, reason: "visit", amount: nil)
        }
        for points in [0, PointsRules.maxChange + 1, -PointsRules.maxChange - 1, .max, .min] as [Int64] {
            #expect(throws: DomainError.self) { try PointsRules.validate(points: points, reason: "visit", amount: nil) }
        }
        #expect { try PointsRules.validate(points: .min, reason: "", amount: nil) } throws: { "\($0)".contains("\(Int64.min)") }
        #expect { try PointsRules.validate(points: 5, reason: "a\u{0}b", amount: nil) } throws: { "\($0)".contains("reason") }
        #expect { try PointsRules.validate(points: 5, reason: String(repeating: "x", count: 201), amount: nil) } throws: { "\($0)".contains("at most 200") }
        #expect { try PointsRules.validate(points: 5, reason: "", amount: -1) } throws: { "\($0)".contains("amount") }
    }

    @Test("a balance stays within 0…maxBalance; a voided card takes nothing; the refusal says which rule")
    func balances() {
        #expect(PointsRules.allows(-10, on: 10, voided: false))
        #expect(!PointsRules.allows(-11, on: 10, voided: false))
        #expect(PointsRules.allows(PointsRules.maxChange, on: PointsRules.maxBalance - PointsRules.maxChange, voided: false))
        #expect(!PointsRules.allows(1, on: PointsRules.maxBalance, voided: false))
        #expect(!PointsRules.allows(1, on: 0, voided: true))
        // At the widest a store can hold, the sum still fits in 64 bits.
        #expect(!PointsRules.allows(PointsRules.maxChange, on: PointsRules.maxBalance, voided: false))
        #expect(PointsRules.refusal(serial: "S1", balance: 10, voided: false, points: -11).message == "Redeeming 11 points exceeds the balance of 10.")
        #expect(PointsRules.refusal(serial: "S1", balance: 10, voided: true, points: 5).message.contains("voided"))
        #expect(PointsRules.refusal(serial: "S1", balance: PointsRules.maxBalance, voided: false, points: 5).message.contains("the most a card may hold"))
        #expect(PointsRules.refusal(serial: "S1", balance: 10, voided: false, points: -11).code == .conflict)
    }

    @Test("a message alternates an invisible mark so the same text notifies again, and is merged over the fields")
    func messages() throws {
        let first = MessageField.value("Double points", replacing: nil)
        let second = MessageField.value("Double points", replacing: first)
        let third = MessageField.value("Double points", replacing: second)
        #expect(first == "Double points" && second != first && third == first)
        #expect(second.hasPrefix("Double points") && second.count == first.count + 1)

        let change = CardFieldsChange(fields: JSONObject([("tier", .string("Gold"))]), message: "Welcome")
        let after = change.apply(to: JSONObject([("tier", .string("Silver")), ("visits", .int(3))]))
        #expect(after["tier"]?.stringValue == "Gold" && after["visits"] == .int(3) && after[MessageField.key]?.stringValue == "Welcome")
        #expect(change.kind == "message" && CardFieldsChange().kind == "reissue" && CardFieldsChange(fields: change.fields).kind == "fields")
        #expect(throws: DomainError.self) { try CardFieldsChange(message: String(repeating: "x", count: MessageField.maxLength + 1)).validate() }
        try CardFieldsChange(message: String(repeating: "x", count: MessageField.maxLength)).validate()
    }

    @Test("a single change is interactive; a campaign's step is bulk and names its campaign; only live cards reach devices")
    func consequences() {
        #expect(ChangeConsequences.singleChange.urgency == .interactive && ChangeConsequences.singleChange.campaign == nil)
        #expect(ChangeConsequences.campaignStep("c-1") == ChangeConsequences(urgency: .bulk, campaign: "c-1"))
        #expect(ChangeConsequences.reachesDevices(.live) && !ChangeConsequences.reachesDevices(.test))
    }
}
