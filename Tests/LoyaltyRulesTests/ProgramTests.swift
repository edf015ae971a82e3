import LoyaltyRules
import PasslineJSON
import PasslineTestSupport
import Testing

@Suite("The program: its JSON, its arithmetic, its times")
struct ProgramTests {
    func object(_ text: String) throws -> JSONObject { try #require(try JSONParser.parse(text).objectValue) }

    @Test("10% of cash: points = floor(major units × 10 / 100); card earns nothing; below the minimum nothing")
    func earning() throws {
        let program = try Program.parse(try object(#"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10,"minimumAmount":500}]}"#))
        #expect(program.points(amount: 12_345, paymentMethod: "cash").points == 12)   // €123.45 → 12.345 → 12
        #expect(program.points(amount: 9_999, paymentMethod: "cash").points == 9)
        #expect(program.points(amount: 499, paymentMethod: "cash") == (0, 0))
        #expect(program.points(amount: 100_000, paymentMethod: "card") == (0, nil))
        // Currencies without cents, and with three digits.
        let yen = try Program.parse(try object(#"{"currency":"JPY","earnRules":[{"paymentMethods":["cash"],"percent":1}]}"#))
        #expect(yen.points(amount: 10_000, paymentMethod: "cash").points == 100)
        let dinar = try Program.parse(try object(#"{"currency":"KWD","earnRules":[{"paymentMethods":["cash"],"percent":100}]}"#))
        #expect(dinar.points(amount: 12_345, paymentMethod: "cash").points == 12)
    }

    @Test("rounding down, nearest and up; tier multipliers; the largest inputs stay within 64 bits")
    func rounding() throws {
        for (rounding, expected) in [("down", 12), ("nearest", 12), ("up", 13)] as [(String, Int64)] {
            let program = try Program.parse(try object(#"{"currency":"EUR","rounding":"\#(rounding)","earnRules":[{"paymentMethods":["cash"],"percent":10}]}"#))
            #expect(program.points(amount: 12_345, paymentMethod: "cash").points == expected, "\(rounding)")
        }
        let nearest = try Program.parse(try object(#"{"currency":"EUR","rounding":"nearest","earnRules":[{"paymentMethods":["cash"],"percent":10}]}"#))
        #expect(nearest.points(amount: 12_500, paymentMethod: "cash").points == 13)   // 12.5 → 13
        let tiers = try Program.parse(try object(#"{"currency":"EUR","tierMultipliers":{"Gold":150},"earnRules":[{"paymentMethods":["cash"],"percent":10}]}"#))
        #expect(tiers.points(amount: 10_000, paymentMethod: "cash", tier: "Gold").points == 15)
        #expect(tiers.points(amount: 10_000, paymentMethod: "cash", tier: "Silver").points == 10)
        let widest = try Program.parse(try object(#"{"currency":"EUR","rounding":"up","tierMultipliers":{"X":1000},"earnRules":[{"paymentMethods":["cash"],"percent":1000}]}"#))
        #expect(widest.points(amount: Program.maxAmount, paymentMethod: "cash", tier: "X").points == 1_000_000_000_000)
        let smallest = try Program.parse(try object(#"{"currency":"JPY","rounding":"up","earnRules":[{"paymentMethods":["cash"],"percent":1}]}"#))
        #expect(smallest.points(amount: 1, paymentMethod: "cash").points == 1)
    }

    @Test("every fault is named at once, by its path; unknown fields are faults")
    func faults() throws {
        let text = #"""
        {"currency":"euro","earnRules":[{"paymentMethods":["Cash!"],"percent":-1},{"paymentMethods":[],"percent":"10"},7],
         "rounding":"sideways","expiry":{"afterDays":0,"from":"never"},"reminders":{"daysBefore":[7,7,400]},
         "timeZone":"Mars/Olympus","quietHours":{"start":25,"end":9},"colour":"red"}
        """#
        let document = try object(text)
        do {
            _ = try Program.parse(document)
            Issue.record("accepted")
        } catch {
            let fields = Set(error.faults.map(\.field))
            #expect(error.code == .invalid)
            for field in ["currency", "earnRules[0].paymentMethods[0]", "earnRules[0].percent", "earnRules[1].paymentMethods", "earnRules[1].percent",
                          "earnRules[2]", "rounding", "expiry.afterDays", "expiry.from", "reminders.daysBefore[1]", "reminders.daysBefore[2]",
                          "timeZone", "quietHours.start", "colour"] {
                #expect(fields.contains(field), "\(field) in \(fields.sorted())")
            }
        }
        // A method in two rules, a reminder not before the expiry.
        let twice = try object(#"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":1},{"paymentMethods":["cash"],"percent":2}],"expiry":{"afterDays":20},"reminders":{"daysBefore":[28]}}"#)
        do {
            _ = try Program.parse(twice)
            Issue.record("accepted")
        } catch {
            #expect(error.faults.map(\.field) == ["earnRules[1].paymentMethods[0]", "reminders.daysBefore[0]"])
        }
    }

    @Test("the JSON it writes reads back the same, with the defaults filled in")
    func roundTrip() throws {
        let program = try Program.parse(try object(#"{"currency":"EUR","earnRules":[{"paymentMethods":["cash","voucher"],"percent":10}],"expiry":{"afterDays":180,"from":"lastPurchase"},"reminders":{"daysBefore":[7,28]},"timeZone":"Europe/Berlin"}"#))
        #expect(program.reminderDays == [28, 7] && program.rounding == .down && program.quietHours == .init(start: 21, end: 9))
        #expect(try Program.parse(program.json) == program)
        #expect(program.quietHours.contains(hour: 23) && program.quietHours.contains(hour: 3) && !program.quietHours.contains(hour: 9) && !program.quietHours.contains(hour: 20))
    }

    @Test("RFC 3339 times: offsets, fractions, leap years; dates that do not exist are nil, not a trap")
    func timestamps() {
        #expect(Timestamp.parse("1970-01-01T00:00:00Z") == 0)
        #expect(Timestamp.parse("2026-12-04T10:30:00.25+01:00") == Timestamp.parse("2026-12-04T09:30:00.250Z"))
        #expect(Timestamp.parse("2024-02-29T00:00:00Z") != nil && Timestamp.parse("2023-02-29T00:00:00Z") == nil)
        for bad in ["", "2026-12-04", "2026-13-01T00:00:00Z", "2026-12-04T24:00:00Z", "2026-12-04T10:30:00", "2026-12-04T10:30:00+24:00",
                    "2026-12-04T10:30:00.Z", "２026-12-04T10:30:00Z", "2026-12-04T10:30:00Z ", "9999999999-01-01T00:00:00Z", "0000-01-01T00:00:00Z"] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
        var generator = SplitMix(seed: 7)
        for _ in 0..<2_000 {
            // Every millisecond of years 1 to 9999, the years RFC 3339 writes.
            let ms = Int64(generator.next() % 315_537_897_600_000) - 62_135_596_800_000
            #expect(Timestamp.parse(Timestamp.format(ms)) == ms)
        }
        #expect(Timestamp.format(1_798_070_400_000) == "2026-12-24T00:00:00Z")
    }

    @Test("tiers: levels ascending from 0, unique names, a window; multipliers name levels; every fault at once")
    func tiers() throws {
        let program = try Program.parse(try object(#"{"currency":"EUR","earnRules":[],"tierMultipliers":{"Gold":150},"tiers":{"windowDays":365,"levels":[{"name":"Member","minPoints":0},{"name":"Silver","minPoints":100},{"name":"Gold","minPoints":500}]}}"#))
        let tiers = try #require(program.tiers)
        #expect([0, 99, 100, 499, 500, Int64.max].map(tiers.tier(earned:)) == ["Member", "Member", "Silver", "Silver", "Gold", "Gold"])
        #expect(try Program.parse(program.json) == program)
        #expect(try Program.parse(try object(#"{"currency":"EUR","earnRules":[],"tiers":null}"#)).tiers == nil)
        let faulty = try object(#"{"currency":"EUR","earnRules":[],"tierMultipliers":{"Platinum":200},"tiers":{"windowDays":0,"levels":[{"name":"Member","minPoints":10},{"name":"Member","minPoints":5},{"name":"","minPoints":1},{"minPoints":"x"},7],"extra":1}}"#)
        do {
            _ = try Program.parse(faulty)
            Issue.record("accepted")
        } catch {
            #expect(Set(error.faults.map(\.field)) == ["tiers.extra", "tiers.windowDays", "tiers.levels[0].minPoints", "tiers.levels[1].name", "tiers.levels[1].minPoints",
                                                       "tiers.levels[2].name", "tiers.levels[3].minPoints", "tiers.levels[3].name", "tiers.levels[4]",
                                                       "tierMultipliers.Platinum"], "\(error.faults)")
        }
        for bad in [#""tiers":{"windowDays":30,"levels":[]}"#, #""tiers":{"windowDays":30}"#, #""tiers":[1]"#, #""tiers":{"windowDays":99999999999999999999,"levels":[{"name":"A","minPoints":0}]}"#] {
            #expect(throws: DomainError.self, "\(bad)") { try Program.parse(try object(#"{"currency":"EUR","earnRules":[],\#(bad)}"#)) }
        }
    }
}
