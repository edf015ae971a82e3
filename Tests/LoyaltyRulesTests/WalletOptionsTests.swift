import LoyaltyRules
import PasslineJSON
import Testing

@Suite("A card's wallet options: expiry, relevant dates, places; typed, checked, each fault named")
struct WalletOptionsTests {
    func object(_ text: String) throws -> JSONObject { try #require(try JSONParser.parse(text).objectValue) }

    @Test("good options read, show as they were given (in UTC), and a key left out stays while null clears")
    func readsAndPatches() throws {
        let options = try WalletOptions().applying(try object("""
            {"expirationDate":"2027-03-31T23:59:00+01:00","relevantDates":[{"date":"2027-01-10T09:00:00Z"},{"startDate":"2027-02-01T08:00:00Z","endDate":"2027-02-01T18:00:00Z"}],
             "locations":[{"latitude":52.52,"longitude":13.405,"relevantText":"Lumen is around the corner"},{"latitude":-33,"longitude":151,"altitude":12.5}],"maxDistance":150}
            """))
        #expect(options.expiresAt == Timestamp.parse("2027-03-31T22:59:00Z"))
        #expect(options.relevantDates == [.moment(Timestamp.parse("2027-01-10T09:00:00Z")!),
                                          .interval(start: Timestamp.parse("2027-02-01T08:00:00Z")!, end: Timestamp.parse("2027-02-01T18:00:00Z")!)])
        #expect(options.locations.count == 2 && options.locations[0].relevantText == "Lumen is around the corner" && options.locations[1].altitude == 12.5)
        #expect(options.maxDistance == 150)
        #expect(options.json["expirationDate"] == .string("2027-03-31T22:59:00Z"))
        #expect(WalletOptions.stored(JSONWriter.string(.object(options.json))) == options, "what the store keeps reads back the same")

        let patched = try options.applying(try object(#"{"expirationDate":null,"maxDistance":500}"#))
        #expect(patched.expiresAt == nil && patched.maxDistance == 500 && patched.locations == options.locations && patched.relevantDates == options.relevantDates)
        #expect(try options.applying(JSONObject()) == options)
        #expect(try options.applying(try object(#"{"relevantDates":null,"locations":null,"maxDistance":null,"expirationDate":null}"#)).isEmpty)
        #expect(WalletOptions.stored(nil).isEmpty && WalletOptions.stored("").isEmpty && WalletOptions.stored("not json").isEmpty)
    }

    @Test("bad options: every fault named by its path, at the limits and past them")
    func refusesBadOptions() throws {
        let bad = try object("""
            {"expirationDate":"31/03/2027","relevantDates":[{"date":"2027-01-10"},{"startDate":"2027-02-01T18:00:00Z","endDate":"2027-02-01T08:00:00Z"},
              {"date":"2027-01-10T09:00:00Z","startDate":"2027-01-10T09:00:00Z","endDate":"2027-01-10T10:00:00Z"},{"when":"x"},7],
             "locations":[{"latitude":91,"longitude":0},{"latitude":0,"longitude":-180.5},{"latitude":"52","longitude":13},{"latitude":0,"longitude":0,"relevantText":""},
               {"latitude":-90.0001,"longitude":0},{"latitude":0,"longitude":0,"colour":"red"}],
             "maxDistance":0}
            """)
        #expect {
            try WalletOptions().applying(bad)
        } throws: { error in
            guard let error = error as? DomainError else { return false }
            let fields = Set(error.faults.map(\.field))
            return fields.isSuperset(of: ["expirationDate", "relevantDates[0].date", "relevantDates[1].endDate", "relevantDates[2]", "relevantDates[3].when",
                                          "relevantDates[4]", "locations[0].latitude", "locations[1].longitude", "locations[2].latitude",
                                          "locations[3].relevantText", "locations[4].latitude", "locations[5].colour", "maxDistance"])
        }
        let tooMany = JSONObject([("locations", .array(Array(repeating: .object(JSONObject([("latitude", .int(0)), ("longitude", .int(0))])), count: 11)))])
        #expect(throws: DomainError.self) { try WalletOptions().applying(tooMany) }
        let ten = JSONObject([("locations", .array(Array(repeating: .object(JSONObject([("latitude", .int(90)), ("longitude", .int(-180))])), count: 10)))])
        #expect(try WalletOptions().applying(ten).locations.count == 10, "ten places at the poles' limits are fine")
        #expect(throws: DomainError.self) { try WalletOptions().applying(try object(#"{"maxDistance":150}"#)) }
        #expect(throws: DomainError.self) { try WalletOptions().applying(try object(#"{"locations":[{"latitude":0,"longitude":0}],"maxDistance":100001}"#)) }
        #expect(throws: DomainError.self) { try WalletOptions().applying(try object(#"{"expirationDate":"9999-99-99T99:99:99Z"}"#)) }
        #expect(throws: DomainError.self) { try WalletOptions().applying(try object(#"{"relevantDates":"soon"}"#)) }
    }
}
