import LoyaltyRules
import PasslineJSON
import Testing

@Suite("Expiry reminders: milestones, quiet hours, the card's stage and words")
struct ReminderTests {
    func program(_ extra: String = "") throws -> Program {
        try Program.parse(try #require(try JSONParser.parse(#"{"currency":"EUR","earnRules":[],"expiry":{"afterDays":90},"reminders":{"daysBefore":[7,28]},"timeZone":"Europe/Berlin"\#(extra)}"#).objectValue))
    }
    let day = Timestamp.millisecondsPerDay

    @Test("the largest milestone first, then the next; none that came before the lot was earned")
    func milestones() throws {
        let program = try program()
        let expires = Timestamp.parse("2027-03-01T12:00:00Z")!
        let first = try #require(ReminderSchedule.next(expiresAt: expires, earnedAt: expires - 90 * day, sent: [], program: program))
        #expect(first.daysBefore == 28 && first.at == expires - 28 * day)
        #expect(ReminderSchedule.next(expiresAt: expires, earnedAt: expires - 90 * day, sent: [28], program: program)?.daysBefore == 7)
        #expect(ReminderSchedule.next(expiresAt: expires, earnedAt: expires - 90 * day, sent: [28, 7], program: program) == nil)
        // Earned 20 days before it expires: the 28-day reminder would come before the points did.
        #expect(ReminderSchedule.next(expiresAt: expires, earnedAt: expires - 20 * day, sent: [], program: program)?.daysBefore == 7)
        #expect(ReminderSchedule.next(expiresAt: expires, earnedAt: expires - 3 * day, sent: [], program: program) == nil)
    }

    @Test("a reminder due in the quiet hours comes at the last hour before them, local time, across DST")
    func quietHours() throws {
        let program = try program()   // quiet 21:00–09:00 Berlin
        // 23:30 Berlin in winter (UTC+1) is 22:30Z: sent at 20:00 Berlin, 19:00Z.
        #expect(ReminderSchedule.outOfQuietHours(Timestamp.parse("2027-01-10T22:30:00Z")!, program: program) == Timestamp.parse("2027-01-10T19:00:00Z")!)
        // 03:00 Berlin in summer (UTC+2) is 01:00Z: the evening before at 20:00 Berlin, 18:00Z.
        #expect(ReminderSchedule.outOfQuietHours(Timestamp.parse("2027-07-10T01:00:00Z")!, program: program) == Timestamp.parse("2027-07-09T18:00:00Z")!)
        // 08:59 Berlin is still quiet; 09:00 is not.
        #expect(ReminderSchedule.outOfQuietHours(Timestamp.parse("2027-01-10T07:59:00Z")!, program: program) == Timestamp.parse("2027-01-09T19:00:00Z")!)
        let nine = Timestamp.parse("2027-01-10T08:00:00Z")!
        #expect(ReminderSchedule.outOfQuietHours(nine, program: program) == nine)
        // Quiet hours within a day (13–14) and the night after DST's switch.
        let lunch = try self.program(#","quietHours":{"start":13,"end":14}"#)
        #expect(ReminderSchedule.outOfQuietHours(Timestamp.parse("2027-01-10T12:30:00Z")!, program: lunch) == Timestamp.parse("2027-01-10T11:00:00Z")!)
        let spring = Timestamp.parse("2027-03-28T01:30:00Z")!   // 03:30 CEST, just after the clocks went forward
        #expect(ReminderSchedule.outOfQuietHours(spring, program: program) == Timestamp.parse("2027-03-27T19:00:00Z")!)
        // Every hour of a year, in every zone the program could name: never in quiet hours.
        var time = Timestamp.parse("2027-01-01T00:17:00Z")!
        for _ in 0..<(24 * 366) {
            let moved = ReminderSchedule.outOfQuietHours(time, program: program)
            // Twelve quiet hours and a bit; fourteen on the night the clocks go back.
            #expect(moved <= time && time - moved <= 14 * 3_600_000, "\(Timestamp.format(time))")
            time += 3_600_000
        }
    }

    @Test("stage: calm, then 28, then 7; the words name the points and the local date")
    func stageAndWords() throws {
        let program = try program()
        let expires = Timestamp.parse("2027-01-12T10:00:00Z")!
        #expect(ReminderSchedule.stage(soonestExpiry: nil, now: 0, program: program) == "calm")
        #expect(ReminderSchedule.stage(soonestExpiry: expires, now: expires - 40 * day, program: program) == "calm")
        #expect(ReminderSchedule.stage(soonestExpiry: expires, now: expires - 28 * day, program: program) == "28")
        #expect(ReminderSchedule.stage(soonestExpiry: expires, now: expires - 7 * day + 1, program: program) == "7")
        #expect(ReminderSchedule.text(points: 250, expiresAt: expires, program: program) == "250 points expire on 12 January")
        #expect(ReminderSchedule.text(points: 1, expiresAt: Timestamp.parse("2027-01-12T23:30:00Z")!, program: program) == "1 point expires on 13 January")
    }

    @Test("the stage turns when the reminder goes, quiet hours included; past the first milestone the words say how near it is")
    func stageFollowsTheReminder() throws {
        let program = try program()
        // 03:00 in Berlin: the 28-day milestone falls in quiet hours and comes the evening before, at 20:00 local.
        let expires = Timestamp.parse("2027-01-12T02:00:00Z")!
        let reminder = try #require(ReminderSchedule.next(expiresAt: expires, earnedAt: expires - 90 * day, sent: [], program: program))
        #expect(Timestamp.format(reminder.at) == "2026-12-14T19:00:00Z")
        #expect(ReminderSchedule.stage(soonestExpiry: expires, now: reminder.at - 1, program: program) == "calm")
        #expect(ReminderSchedule.stage(soonestExpiry: expires, now: reminder.at, program: program) == "28")
        #expect(ReminderSchedule.stage(soonestExpiry: expires, now: expires, program: program) == "calm", "expired is no stage")
        let later = Timestamp.parse("2027-01-12T10:00:00Z")!
        #expect(ReminderSchedule.text(points: 250, expiresAt: later, stage: "28", program: program) == "250 points expire on 12 January")
        #expect(ReminderSchedule.text(points: 250, expiresAt: later, stage: "7", program: program) == "Only 7 days left: 250 points expire on 12 January")
        let single = try Program.parse(try #require(try JSONParser.parse(#"{"currency":"EUR","earnRules":[],"reminders":{"daysBefore":[1]}}"#).objectValue))
        #expect(ReminderSchedule.text(points: 1, expiresAt: later, stage: "1", program: single) == "1 point expires on 12 January", "its only milestone is its first")
    }

    @Test("the business's own words per milestone, filled in; bad words refused naming the milestone; the program's JSON keeps them")
    func ownWords() throws {
        let program = try Program.parse(try #require(try JSONParser.parse(
            #"{"currency":"EUR","earnRules":[],"expiry":{"afterDays":90},"reminders":{"daysBefore":[28,7],"texts":{"7":"Last call: {points} pts go on {date} ({days} days)!"}}}"#).objectValue))
        let later = Timestamp.parse("2027-01-12T10:00:00Z")!
        #expect(ReminderSchedule.text(points: 250, expiresAt: later, stage: "7", program: program) == "Last call: 250 pts go on 12 January (7 days)!")
        #expect(ReminderSchedule.text(points: 250, expiresAt: later, stage: "28", program: program) == "250 points expire on 12 January", "a milestone without words keeps the default")
        let again = try Program.parse(program.json)
        #expect(again == program && again.reminderTexts == [7: "Last call: {points} pts go on {date} ({days} days)!"])
        let bad = #"{"currency":"EUR","earnRules":[],"expiry":{"afterDays":90},"reminders":{"daysBefore":[28,7],"texts":{"14":"x","7":"{name} hi","28":"  ","9999999999999999999999":"y"}}}"#
        #expect {
            try Program.parse(try #require(try JSONParser.parse(bad).objectValue))
        } throws: { error in
            guard let error = error as? DomainError else { return false }
            let byField = Dictionary(error.faults.map { ($0.field, $0.message) }, uniquingKeysWith: { a, _ in a })
            return byField["reminders.texts.14"]?.contains("names no milestone") == true && byField["reminders.texts.7"]?.contains("{name}") == true
                && byField["reminders.texts.28"]?.contains("empty") == true && byField["reminders.texts.999999999999"]?.contains("names no milestone") == true
        }
        #expect(ReminderWords.problem(String(repeating: "a", count: 151))?.contains("at most 150") == true)
        #expect(ReminderWords.problem("two\nlines") != nil && ReminderWords.problem("{points") != nil && ReminderWords.problem("{points} left") == nil)
    }

    @Test("a card's derived fields: words and stage within a milestone, calm after, untouched if never reminded; the tier from the window")
    func cardLook() throws {
        let program = try program(#","tiers":{"windowDays":365,"levels":[{"name":"Member","minPoints":0},{"name":"Gold","minPoints":500}]}"#)
        let expires = Timestamp.parse("2027-01-12T10:00:00Z")!
        let lots = [PointLot(id: 1, remaining: 200, expiresAt: expires), PointLot(id: 2, remaining: 50, expiresAt: expires),
                    PointLot(id: 3, remaining: 70, expiresAt: expires + 30 * day), PointLot(id: 4, remaining: 5, expiresAt: nil)]
        let partner = JSONObject([("colour", .string("blue"))])
        // Far from any milestone: the partner's fields as they were, the tier added.
        let early = CardLook.fields(partner, lots: lots, earnedInWindow: 499, now: expires - 60 * day, program: program)
        #expect(early == JSONObject([("colour", .string("blue")), ("tier", .string("Member"))]))
        let reminded = CardLook.fields(partner, lots: lots, earnedInWindow: 500, now: expires - 10 * day, program: program)
        #expect(reminded["pointsExpiring"] == .string("250 points expire on 12 January") && reminded["expiryStage"] == .string("28"))
        #expect(reminded["tier"] == .string("Gold") && reminded["colour"] == .string("blue"))
        #expect(CardLook.fields(reminded, lots: lots, earnedInWindow: 500, now: expires - 2 * day, program: program)["pointsExpiring"]
                == .string("Only 7 days left: 250 points expire on 12 January"))
        // The soonest lots gone (spent or expired): calm, the words gone, until the next lot's milestone.
        let calm = CardLook.fields(reminded, lots: Array(lots.suffix(2)), earnedInWindow: 0, now: expires - 2 * day, program: program)
        #expect(calm["pointsExpiring"] == nil && calm["expiryStage"] == .string("calm") && calm["tier"] == .string("Member"))
        // A program without tiers leaves a partner's tier alone; an empty card stays empty.
        let plain = try self.program()
        #expect(CardLook.fields(JSONObject([("tier", .string("VIP"))]), lots: [], earnedInWindow: nil, now: 0, program: plain) == JSONObject([("tier", .string("VIP"))]))
        #expect(CardLook.fields(JSONObject(), lots: [], earnedInWindow: nil, now: 0, program: plain) == JSONObject())
    }
}
