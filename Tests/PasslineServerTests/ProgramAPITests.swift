import ApplePass
import Foundation
import Logging
import LoyaltyRules
@testable import PasslineServer
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import PasslineZip
import Testing

/// The loyalty program over the partner API: rules, purchases that earn by them, refunds, lots and expiry.
@Suite("The loyalty program over the partner API")
struct ProgramAPITests {
    static let tenPercentCash = #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}],"expiry":{"afterDays":180,"from":"earned"},"reminders":{"daysBefore":[28,7]},"timeZone":"Europe/Berlin"}"#

    func purchase(_ server: LiveServer, _ serial: String, _ key: [String: String], amount: Int, method: String = "cash", reference: String,
                  currency: String = "EUR", extra: String = "") async throws -> LiveServer.Reply {
        try await server.send("POST", "/api/v1/cards/\(serial)/purchases",
                              body: #"{"amount":\#(amount),"currency":"\#(currency)","paymentMethod":"\#(method)","reference":"\#(reference)"\#(extra)}"#, headers: key)
    }

    func fields(_ reply: LiveServer.Reply) -> [String] { (reply.json?["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? [] }

    @Test("the program: 404 before one exists, every fault named, versions, its own per mode", arguments: TestDatabase.available)
    func program(kind: TestDatabase) async throws {
        let (server, key, _) = try await TransactionTests().setUp(kind)
        #expect(try await server.send("GET", "/api/v1/program", headers: key).status == 404)
        let bad = try await server.send("PUT", "/api/v1/program", body: #"{"currency":"eur","earnRules":[{"paymentMethods":["cash"],"percent":10.5}],"expiry":{"afterDays":0},"colour":1}"#, headers: key)
        #expect(bad.status == 422)
        #expect(Set(fields(bad)) == ["currency", "earnRules[0].percent", "expiry.afterDays", "colour"], "\(fields(bad))")
        for body in ["[]", "{", #"{"currency":"EUR","earnRules":[],"effectiveAt":"yesterday"}"#] {
            let reply = try await server.send("PUT", "/api/v1/program", body: body, headers: key)
            #expect([400, 422].contains(reply.status), "\(body): \(reply.status)")
        }
        let put = try await server.send("PUT", "/api/v1/program", body: Self.tenPercentCash, headers: key)
        #expect(put.status == 200 && put.json?["version"] as? Int == 1 && put.json?["rounding"] as? String == "down", "\(put.status) \(String(decoding: put.body, as: UTF8.self))")
        let later = try await server.send("PUT", "/api/v1/program", body: #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash","card"],"percent":20}],"effectiveAt":"2099-01-01T00:00:00Z"}"#, headers: key)
        #expect(later.status == 200 && later.json?["version"] as? Int == 2)
        let current = try await server.send("GET", "/api/v1/program", headers: key)
        #expect(current.json?["version"] as? Int == 1)
        #expect((current.json?["scheduled"] as? [[String: Any]])?.map { $0["version"] as? Int } == [2])
        #expect((current.json?["expiry"] as? [String: Any])?["afterDays"] as? Int == 180)
        // The test key's program is its own.
        #expect(try await server.send("GET", "/api/v1/program", headers: ["Authorization": "Bearer \(server.tenantA.testKey)"]).status == 404)
        #expect(try await server.send("GET", "/api/v1/program", headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 404)
        await server.stop()
    }

    @Test("a purchase earns by the rules in force when it happened; its reference replays; bad ones are named", arguments: TestDatabase.available)
    func purchases(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        let noProgram = try await purchase(server, serial, key, amount: 1_000, reference: "R0")
        #expect(noProgram.status == 409 && (noProgram.json?["detail"] as? String)?.contains("PUT /api/v1/program") == true)
        _ = try await server.send("PUT", "/api/v1/program", body: Self.tenPercentCash, headers: key)

        let first = try await purchase(server, serial, key, amount: 12_345, reference: "R1")
        #expect(first.status == 201, "\(String(decoding: first.body, as: UTF8.self))")
        #expect(first.json?["pointsEarned"] as? Int == 12 && first.json?["points"] as? Int == 132 && first.json?["version"] as? Int == 2)
        #expect((first.json?["purchase"] as? [String: Any])?["programVersion"] as? Int == 1)
        // Card payments earn nothing under a cash-only rule, and the purchase is still recorded.
        let card = try await purchase(server, serial, key, amount: 50_000, method: "card", reference: "R2")
        #expect(card.status == 201 && card.json?["pointsEarned"] as? Int == 0 && card.json?["points"] as? Int == 132 && card.json?["version"] as? Int == 2)
        // The same reference and body: the stored answer. Another body: refused, nothing credited.
        let again = try await purchase(server, serial, key, amount: 12_345, reference: "R1")
        #expect(again.status == 201 && again.header("Idempotent-Replayed") == "true" && again.body == first.body)
        #expect(try await purchase(server, serial, key, amount: 99_999, reference: "R1").status == 409)
        // Bad fields, each named; the program's currency only.
        let bad = try await server.send("POST", "/api/v1/cards/\(serial)/purchases",
                                        body: #"{"amount":-5,"currency":7,"paymentMethod":"Cash Money","reference":"","occurredAt":"2026-02-30T00:00:00Z","tip":1}"#, headers: key)
        #expect(bad.status == 422 && Set(fields(bad)) == ["amount", "currency", "occurredAt", "tip"], "\(fields(bad))")
        let badValues = try await purchase(server, serial, key, amount: 100, method: "Cash Money", reference: "a/b")
        #expect(badValues.status == 422 && Set(fields(badValues)) == ["paymentMethod", "reference"], "\(fields(badValues))")
        let dollars = try await purchase(server, serial, key, amount: 1_000, reference: "R3", currency: "USD")
        #expect(dollars.status == 422 && fields(dollars) == ["currency"] && (dollars.json?["detail"] as? String)?.contains("EUR") == true)
        let future = try await purchase(server, serial, key, amount: 1_000, reference: "R4", extra: #","occurredAt":"2099-01-01T00:00:00Z""#)
        #expect(future.status == 422 && fields(future) == ["occurredAt"])
        // Another tenant's card and an unknown card: 404; a test key does not see the live card.
        #expect(try await purchase(server, serial, ["Authorization": "Bearer \(server.tenantB.liveKey)"], amount: 100, reference: "X").status == 404)
        #expect(try await purchase(server, "NOSUCH", key, amount: 100, reference: "X").status == 404)

        // A rule change from now on: a purchase that happened before it keeps the old rule.
        let change = try await server.send("PUT", "/api/v1/program", body: #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":20}]}"#, headers: key)
        let changedAt = try #require(Timestamp.parse(change.json?["effectiveAt"] as? String ?? ""))
        let before = Timestamp.format(changedAt - 1)
        let old = try await purchase(server, serial, key, amount: 10_000, reference: "R5", extra: #","occurredAt":"\#(before)""#)
        #expect(old.json?["pointsEarned"] as? Int == 10 && (old.json?["purchase"] as? [String: Any])?["programVersion"] as? Int == 1)
        let new = try await purchase(server, serial, key, amount: 10_000, reference: "R6")
        #expect(new.json?["pointsEarned"] as? Int == 20 && (new.json?["purchase"] as? [String: Any])?["programVersion"] as? Int == 2)

        let ledger = try await server.send("GET", "/api/v1/cards/\(serial)/transactions", headers: key)
        let entries = try #require(ledger.json?["transactions"] as? [[String: Any]])
        #expect(entries.map { $0["type"] as? String } == ["earn", "earn", "earn", "adjust"])
        #expect(entries.first?["purchase"] as? String == "R6" && entries.first?["programVersion"] as? Int == 2)
        await server.stop()
    }

    @Test("refunds take back their share of what is left of the purchase's lot, once; lots and the next expiry show", arguments: TestDatabase.available)
    func refunds(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        _ = try await server.send("PUT", "/api/v1/program", body: Self.tenPercentCash, headers: key)
        #expect(try await purchase(server, serial, key, amount: 100_000, reference: "P1").json?["pointsEarned"] as? Int == 100)
        let half = try await server.send("POST", "/api/v1/cards/\(serial)/purchases/P1/refund", body: #"{"amount":50000}"#, headers: key)
        #expect(half.status == 201 && (half.json?["refund"] as? [String: Any])?["pointsReversed"] as? Int == 50 && half.json?["points"] as? Int == 170,
                "\(String(decoding: half.body, as: UTF8.self))")
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/purchases/P1/refund", body: #"{"amount":50001}"#, headers: key).status == 422)
        // The member spends 210 of 220: the redemption takes the purchase's lot (it expires first) before the opening balance.
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/transactions", body: #"{"points":-160,"reason":"spa day"}"#, headers: key).status == 201)
        let rest = try await server.send("POST", "/api/v1/cards/\(serial)/purchases/P1/refund", headers: key)
        // 50 of P1's points were left, the redemption took them (its lot expires in 180 days; the opening balance never).
        #expect(rest.status == 201 && (rest.json?["refund"] as? [String: Any])?["pointsReversed"] as? Int == 0 && rest.json?["points"] as? Int == 10,
                "\(String(decoding: rest.body, as: UTF8.self))")
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/purchases/P1/refund", headers: key).status == 409)
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/purchases/NOPE/refund", headers: key).status == 404)
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/purchases/P1/refund", headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 404)
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/purchases/P1/refund", body: #"{"amount":"all"}"#, headers: key).status == 422)
        // A reference with spaces and accents is a path segment once percent-encoded.
        #expect(try await purchase(server, serial, key, amount: 10_000, reference: "Bon n°7 à 10:30").status == 201)
        let encoded = try #require("Bon n°7 à 10:30".addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/:"))))
        let odd = try await server.send("POST", "/api/v1/cards/\(serial)/purchases/\(encoded)/refund", headers: key)
        #expect(odd.status == 201 && (odd.json?["purchase"] as? [String: Any])?["reference"] as? String == "Bon n°7 à 10:30", "\(odd.status) \(String(decoding: odd.body, as: UTF8.self))")

        _ = try await purchase(server, serial, key, amount: 30_000, reference: "P2")
        let points = try await server.send("GET", "/api/v1/cards/\(serial)/points", headers: key)
        #expect(points.status == 200 && points.json?["balance"] as? Int == 40)
        let lots = try #require(points.json?["lots"] as? [[String: Any]])
        #expect(lots.map { $0["remaining"] as? Int } == [30, 10], "soonest expiry first, the opening balance (no expiry) last")
        #expect(lots.last?["expiresAt"] is NSNull)
        let next = try #require(points.json?["nextExpiry"] as? [String: Any])
        #expect(next["points"] as? Int == 30 && (next["at"] as? String).flatMap(Timestamp.parse) == (lots[0]["expiresAt"] as? String).flatMap(Timestamp.parse))
        await server.stop()
    }

    @Test("due points expire once, as an expire entry with a new version and a push, however often and by however many runners", arguments: TestDatabase.available)
    func expiry(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        _ = try await server.send("PUT", "/api/v1/program", body: Self.tenPercentCash, headers: key)
        _ = try await purchase(server, serial, key, amount: 100_000, reference: "E1")
        let jobs = JobQueue(database: server.database)
        let runners = (0..<3).map { _ in PointsScheduler(database: server.database, programs: Programs(database: server.database), jobs: jobs, logger: Logger(label: "test")) }
        // Not yet due: nothing happens.
        #expect(try await runners[0].expireDue(now: WallClock.milliseconds()) == 0)
        let due = WallClock.milliseconds() + 181 * Timestamp.millisecondsPerDay
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for runner in runners { group.addTask { try await runner.expireDue(now: due) } }
            return try await group.reduce(0, +)
        }
        #expect(counts == 1, "one card, expired once among three runners")
        #expect(try await runners[0].expireDue(now: due + 1) == 0)
        let card = try await server.send("GET", "/api/v1/cards/\(serial)", headers: key)
        #expect(card.json?["points"] as? Int == 120 && card.json?["version"] as? Int == 3)
        let ledger = try #require(try await server.send("GET", "/api/v1/cards/\(serial)/transactions", headers: key).json?["transactions"] as? [[String: Any]])
        #expect(ledger.first?["type"] as? String == "expire" && ledger.first?["points"] as? Int == -100 && ledger.first?["balanceAfter"] as? Int == 120)
        let points = try await server.send("GET", "/api/v1/cards/\(serial)/points", headers: key)
        #expect((points.json?["lots"] as? [[String: Any]])?.count == 1 && points.json?["nextExpiry"] is NSNull)
        await server.stop()
    }

    @Test("under 'from the last purchase', every purchase moves the member's expiring points forward, never back", arguments: TestDatabase.available)
    func lastPurchase(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        _ = try await server.send("PUT", "/api/v1/program", body: #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}],"expiry":{"afterDays":90,"from":"lastPurchase"},"effectiveAt":"2000-01-01T00:00:00Z"}"#, headers: key)
        let long = Timestamp.format(WallClock.milliseconds() - 30 * Timestamp.millisecondsPerDay)
        _ = try await purchase(server, serial, key, amount: 10_000, reference: "L1", extra: #","occurredAt":"\#(long)""#)
        _ = try await purchase(server, serial, key, amount: 20_000, reference: "L2")
        let older = Timestamp.format(WallClock.milliseconds() - 60 * Timestamp.millisecondsPerDay)
        _ = try await purchase(server, serial, key, amount: 30_000, reference: "L3", extra: #","occurredAt":"\#(older)""#)
        let lots = try #require(try await server.send("GET", "/api/v1/cards/\(serial)/points", headers: key).json?["lots"] as? [[String: Any]])
        let expiries = lots.compactMap { ($0["expiresAt"] as? String).flatMap(Timestamp.parse) }
        #expect(lots.count == 4 && expiries.count == 3, "\(lots)")
        // L1 and L2 expire 90 days after L2; L3, posted late for an older purchase, shortens nothing.
        #expect(Set(expiries.prefix(3).suffix(2)).count == 1 && abs(expiries.max()! - expiries.min()! - 60 * Timestamp.millisecondsPerDay) < 5_000, "\(expiries)")
        await server.stop()
    }

    @Test("rewards: a catalogue per mode; a redemption checks balance, window and the limit per member, and writes a redeem entry", arguments: TestDatabase.available)
    func rewards(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        let bad = try await server.send("POST", "/api/v1/rewards", body: #"{"name":"","cost":0,"limit":{"count":0},"activeFrom":"soon","glitter":true}"#, headers: key)
        #expect(bad.status == 422 && Set(fields(bad)) == ["name", "cost", "limit.count", "limit.perDays", "activeFrom", "glitter"], "\(fields(bad))")
        let facial = try await server.send("POST", "/api/v1/rewards", body: #"{"name":"Free facial","cost":100,"limit":{"count":1,"perDays":30}}"#, headers: key)
        #expect(facial.status == 201 && (facial.json?["id"] as? String)?.hasPrefix("rw_") == true)
        #expect(try await server.send("POST", "/api/v1/rewards", body: #"{"name":"Free facial","cost":5}"#, headers: key).status == 409)
        _ = try await server.send("POST", "/api/v1/rewards", body: #"{"name":"Spa day","cost":500}"#, headers: key)
        _ = try await server.send("POST", "/api/v1/rewards", body: #"{"name":"Summer gift","cost":1,"activeFrom":"2099-06-01T00:00:00Z"}"#, headers: key)
        let list = try await server.send("GET", "/api/v1/rewards", headers: key)
        #expect((list.json?["rewards"] as? [[String: Any]])?.map { $0["name"] as? String } == ["Free facial", "Spa day", "Summer gift"])

        func redeem(_ reward: String, _ headers: [String: String] = [:]) async throws -> LiveServer.Reply {
            try await server.send("POST", "/api/v1/cards/\(serial)/redemptions", body: #"{"reward":"\#(reward)"}"#, headers: key.merging(headers) { $1 })
        }
        let first = try await redeem("Free facial", ["Idempotency-Key": "visit-1"])
        #expect(first.status == 201 && first.json?["points"] as? Int == 20 && (first.json?["redemption"] as? [String: Any])?["points"] as? Int == -100,
                "\(String(decoding: first.body, as: UTF8.self))")
        // Replayed by its key; a second within 30 days is over the limit, whatever the balance.
        #expect(try await redeem("Free facial", ["Idempotency-Key": "visit-1"]).header("Idempotent-Replayed") == "true")
        _ = try await server.send("POST", "/api/v1/cards/\(serial)/transactions", body: #"{"points":1000,"reason":"gift"}"#, headers: key)
        let again = try await redeem(try #require(facial.json?["id"] as? String))
        #expect(again.status == 409 && (again.json?["detail"] as? String)?.contains("the limit is 1") == true)
        #expect(try await redeem("Spa day").json?["points"] as? Int == 520)
        #expect(try await redeem("Spa day").json?["points"] as? Int == 20)
        let poor = try await redeem("Spa day")
        #expect(poor.status == 409 && poor.json?["detail"] as? String == "Spa day costs 500 points; the card has 20.")
        let early = try await redeem("Summer gift")
        #expect(early.status == 409 && (early.json?["detail"] as? String)?.contains("not offered") == true)
        #expect(try await redeem("Nothing such").status == 404)
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/redemptions", body: #"{"reward":7}"#, headers: key).status == 422)
        // Another tenant's key sees neither the card nor the catalogue; a test key has its own catalogue.
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/redemptions", body: #"{"reward":"Spa day"}"#,
                                      headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 404)
        #expect((try await server.send("GET", "/api/v1/rewards", headers: ["Authorization": "Bearer \(server.tenantA.testKey)"]).json?["rewards"] as? [Any])?.isEmpty == true)
        let ledger = try #require(try await server.send("GET", "/api/v1/cards/\(serial)/transactions", headers: key).json?["transactions"] as? [[String: Any]])
        #expect(ledger.prefix(4).map { $0["type"] as? String } == ["redeem", "redeem", "earn", "redeem"])
        #expect(ledger.prefix(4).map { $0["points"] as? Int } == [-500, -500, 1000, -100])
        await server.stop()
    }

    @Test("reminders at 28 and 7 days: once per lot and milestone, the nearest only when both came; the card shows the words and its stage", arguments: TestDatabase.available)
    func reminders(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        // Quiet hours that never bite, so the times below are the milestones' own.
        _ = try await server.send("PUT", "/api/v1/program", body: #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}],"expiry":{"afterDays":90},"reminders":{"daysBefore":[28,7]},"quietHours":{"start":0,"end":1},"timeZone":"UTC","effectiveAt":"2000-01-01T00:00:00Z"}"#, headers: key)
        let start = WallClock.milliseconds()
        _ = try await purchase(server, serial, key, amount: 100_000, reference: "M1")
        let other = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M2","memberName":"Bo","points":0}"#, headers: key)
        let second = try #require(other.json?["serialNumber"] as? String)
        _ = try await purchase(server, second, key, amount: 50_000, reference: "M2")
        // An opening balance under the program expires, and is reminded of, as earned points are.
        let opened = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M3","memberName":"Cy","points":40}"#, headers: key)
        let third = try #require(opened.json?["serialNumber"] as? String)
        let scheduler = PointsScheduler(database: server.database, programs: Programs(database: server.database), jobs: JobQueue(database: server.database),
                                        logger: Logger(label: "test"))
        let day = Timestamp.millisecondsPerDay
        func card(_ serial: String) async throws -> [String: Any] { try #require(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json) }
        func reminders(_ serial: String) async throws -> [Int] {
            (try await server.send("GET", "/api/v1/cards/\(serial)/points", headers: key).json?["reminders"] as? [[String: Any]])?.compactMap { $0["daysBefore"] as? Int } ?? []
        }

        #expect(try await scheduler.remindDue(now: start + 61 * day) == 0)
        // The first card's 28-day milestone; the second card is left to find both passed at once.
        let firstRound = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<3 { group.addTask { try await scheduler.remindDue(now: start + 62 * day + 60_000) } }
            return try await group.reduce(0, +)
        }
        #expect(firstRound == 3, "each card's 28-day reminder once, among three schedulers")
        #expect(try await scheduler.remindDue(now: start + 62 * day + 120_000) == 0)
        let reminded = try await card(serial)
        let fields = try #require(reminded["fields"] as? [String: Any])
        let expiresOn = Timestamp.format(start + 90 * day).prefix(10)
        #expect(fields["expiryStage"] as? String == "28")
        #expect((fields["pointsExpiring"] as? String)?.hasPrefix("100 points expire on ") == true, "\(fields) \(expiresOn)")
        #expect(reminded["version"] as? Int == 3)
        #expect(try await reminders(serial) == [28])

        // The 7-day milestone.
        #expect(try await scheduler.remindDue(now: start + 83 * day + 60_000) == 3)
        #expect(try await reminders(third) == [7, 28])
        #expect(try await reminders(serial) == [7, 28])
        #expect((try await card(serial)["fields"] as? [String: Any])?["expiryStage"] as? String == "7")
        #expect(try await scheduler.remindDue(now: start + 89 * day) == 0)

        // At expiry the points go, and the card is calm again, its words gone.
        #expect(try await scheduler.expireDue(now: start + 91 * day) == 3)
        let after = try await card(serial)
        #expect(after["points"] as? Int == 120 && (after["fields"] as? [String: Any])?["expiryStage"] as? String == "calm")
        #expect((after["fields"] as? [String: Any])?["pointsExpiring"] == nil)
        await server.stop()
    }

    @Test("a scheduler that was away sends only the nearest milestone that came, once")
    func missedMilestones() async throws {
        let (server, key, serial) = try await TransactionTests().setUp(.sqlite)
        _ = try await server.send("PUT", "/api/v1/program", body: #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}],"expiry":{"afterDays":90},"reminders":{"daysBefore":[28,7]},"quietHours":{"start":0,"end":1},"timeZone":"UTC","effectiveAt":"2000-01-01T00:00:00Z"}"#, headers: key)
        let start = WallClock.milliseconds()
        _ = try await purchase(server, serial, key, amount: 100_000, reference: "M1")
        let scheduler = PointsScheduler(database: server.database, programs: Programs(database: server.database), jobs: JobQueue(database: server.database),
                                        logger: Logger(label: "test"))
        #expect(try await scheduler.remindDue(now: start + 85 * Timestamp.millisecondsPerDay) == 1)
        #expect(try await scheduler.remindDue(now: start + 86 * Timestamp.millisecondsPerDay) == 0)
        let card = try #require(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json)
        #expect(card["version"] as? Int == 3, "one change: one notification, not two in a row")
        #expect((card["fields"] as? [String: Any])?["expiryStage"] as? String == "7")
        let sent = try #require(try await server.send("GET", "/api/v1/cards/\(serial)/points", headers: key).json?["reminders"] as? [[String: Any]])
        #expect(Set(sent.compactMap { $0["daysBefore"] as? Int }) == [28, 7])
        await server.stop()
    }

    @Test("test clocks: a test card lives at its clock's time; advancing makes every reminder and expiry due in between happen, in order", arguments: TestDatabase.available)
    func testClocks(kind: TestDatabase) async throws {
        let (server, liveKey, _) = try await TransactionTests().setUp(kind)
        let key = ["Authorization": "Bearer \(server.tenantA.testKey)"]
        #expect(try await server.send("POST", "/api/v1/test-clocks", body: #"{"frozenTime":"2027-01-01T10:00:00Z"}"#, headers: liveKey).status == 403)
        let bad = try await server.send("POST", "/api/v1/test-clocks", body: #"{"frozenTime":"next week"}"#, headers: key)
        #expect(bad.status == 422 && fields(bad) == ["frozenTime"])
        let made = try await server.send("POST", "/api/v1/test-clocks", body: #"{"frozenTime":"2027-01-01T10:00:00Z"}"#, headers: key)
        #expect(made.status == 201 && made.json?["status"] as? String == "ready" && made.json?["frozenTime"] as? String == "2027-01-01T10:00:00Z")
        let clock = try #require(made.json?["id"] as? String)
        #expect(try await server.send("GET", "/api/v1/test-clocks/\(clock)", headers: ["Authorization": "Bearer \(server.tenantB.testKey)"]).status == 404)

        // The test mode's own program and template; a card on the clock.
        _ = try await server.send("PUT", "/api/v1/program", body: #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}],"expiry":{"afterDays":90},"reminders":{"daysBefore":[28,7]},"timeZone":"Europe/Berlin","effectiveAt":"2000-01-01T00:00:00Z"}"#, headers: key)
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        _ = try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: Data(try writer.finish()), headers: key)
        let liveCard = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M","memberName":"N","points":0,"testClock":"\#(clock)"}"#, headers: liveKey)
        #expect(liveCard.status == 422 && fields(liveCard) == ["testClock"])
        #expect(try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M","memberName":"N","points":0,"testClock":"clock_nope"}"#, headers: key).status == 404)
        let created = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M","memberName":"N","points":0,"testClock":"\#(clock)"}"#, headers: key)
        #expect(created.status == 201 && created.json?["testClock"] as? String == clock, "\(String(decoding: created.body, as: UTF8.self))")
        let serial = try #require(created.json?["serialNumber"] as? String)
        let bought = try await purchase(server, serial, key, amount: 250_000, reference: "T1")
        #expect((bought.json?["purchase"] as? [String: Any])?["occurredAt"] as? String == "2027-01-01T10:00:00Z", "the clock's time, not the wall clock's")
        let lots = try #require(try await server.send("GET", "/api/v1/cards/\(serial)/points", headers: key).json?["lots"] as? [[String: Any]])
        #expect(lots.first?["expiresAt"] as? String == "2027-04-01T10:00:00Z")

        func waitReady() async throws -> [String: Any] {
            for _ in 0..<400 {
                let state = try #require(try await server.send("GET", "/api/v1/test-clocks/\(clock)", headers: key).json)
                if state["status"] as? String == "ready" { return state }
                try await Task.sleep(for: .milliseconds(25))
            }
            Issue.record("the clock never became ready")
            return [:]
        }
        // Past the 28-day milestone (2027-03-04 10:00 UTC, 11:00 in Berlin).
        let advancing = try await server.send("POST", "/api/v1/test-clocks/\(clock)/advance", body: #"{"frozenTime":"2027-03-05T00:00:00Z"}"#, headers: key)
        #expect(advancing.status == 200 && advancing.json?["frozenTime"] as? String == "2027-03-05T00:00:00Z")
        #expect(try await waitReady()["frozenTime"] as? String == "2027-03-05T00:00:00Z")
        var points = try #require(try await server.send("GET", "/api/v1/cards/\(serial)/points", headers: key).json)
        #expect((points["reminders"] as? [[String: Any]])?.map { $0["daysBefore"] as? Int } == [28])
        #expect((points["reminders"] as? [[String: Any]])?.first?["sentAt"] as? String == "2027-03-04T10:00:00Z")
        var card = try #require(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json)
        #expect((card["fields"] as? [String: Any])?["pointsExpiring"] as? String == "250 points expire on 1 April")
        // A clock goes forward only.
        #expect(try await server.send("POST", "/api/v1/test-clocks/\(clock)/advance", body: #"{"frozenTime":"2027-02-01T00:00:00Z"}"#, headers: key).status == 422)
        // Past the 7-day reminder and the expiry at once: both happen, in order.
        _ = try await server.send("POST", "/api/v1/test-clocks/\(clock)/advance", body: #"{"frozenTime":"2027-05-01T00:00:00Z"}"#, headers: key)
        _ = try await waitReady()
        points = try #require(try await server.send("GET", "/api/v1/cards/\(serial)/points", headers: key).json)
        #expect((points["reminders"] as? [[String: Any]])?.map { $0["sentAt"] as? String } == ["2027-03-25T10:00:00Z", "2027-03-04T10:00:00Z"])
        #expect(points["balance"] as? Int == 0)
        card = try #require(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json)
        #expect((card["fields"] as? [String: Any])?["expiryStage"] as? String == "calm")
        let ledger = try #require(try await server.send("GET", "/api/v1/cards/\(serial)/transactions", headers: key).json?["transactions"] as? [[String: Any]])
        #expect(ledger.first?["type"] as? String == "expire" && Timestamp.parse(ledger.first?["createdAt"] as? String ?? "") == Timestamp.parse("2027-04-01T10:00:00Z"))
        // The live scheduler leaves the clock's cards alone.
        let scheduler = PointsScheduler(database: server.database, programs: Programs(database: server.database), jobs: JobQueue(database: server.database),
                                        logger: Logger(label: "test"))
        #expect(try await scheduler.expireDue(now: .max / 2) == 0)
        await server.stop()
    }

    @Test("the real clock's scheduler is not woken by lots it will never take: a voided card's, a test clock's", arguments: TestDatabase.available)
    func nothingToWakeFor(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        let test = ["Authorization": "Bearer \(server.tenantA.testKey)"]
        let program = #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}],"expiry":{"afterDays":1},"reminders":{"daysBefore":[]},"effectiveAt":"2000-01-01T00:00:00Z"}"#
        _ = try await server.send("PUT", "/api/v1/program", body: program, headers: key)
        _ = try await server.send("PUT", "/api/v1/program", body: program, headers: test)
        // A live card's points, long due, on a card voided before the scheduler came.
        let tenDaysAgo = Timestamp.format(WallClock.milliseconds() - 10 * Timestamp.millisecondsPerDay)
        #expect(try await purchase(server, serial, key, amount: 10_000, reference: "V1", extra: #","occurredAt":"\#(tenDaysAgo)""#).status == 201)
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/void", headers: key).status == 200)
        // A test card on a clock in 2020, its points due by that clock, long before the real now.
        let clock = try #require(try await server.send("POST", "/api/v1/test-clocks", body: #"{"frozenTime":"2020-01-01T00:00:00Z"}"#, headers: test).json?["id"] as? String)
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        _ = try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: Data(try writer.finish()), headers: test)
        let card = try #require(try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"T","memberName":"T","points":0,"testClock":"\#(clock)"}"#, headers: test).json?["serialNumber"] as? String)
        #expect(try await purchase(server, card, test, amount: 10_000, reference: "C1").status == 201)

        let next = try await server.database.withConnection { connection in
            (try PointExpiries.nextDue(on: connection), try PointExpiries.nextDue(clock: TestClocks.Key(tenant: server.tenantA.id, id: clock), on: connection))
        }
        #expect(next.0 == nil, "nothing the real clock would take")
        #expect(next.1 == Timestamp.parse("2020-01-02T00:00:00Z"), "the clock's own lot, for its advance")
        let scheduler = PointsScheduler(database: server.database, programs: Programs(database: server.database), jobs: JobQueue(database: server.database),
                                        logger: Logger(label: "test"))
        #expect(try await scheduler.expireDue() == 0)
        await server.stop()
    }

    /// A test-mode template, program and clock, and a card on the clock: the moments below are the clock's.
    func clockedCard(_ server: LiveServer, program: String, at time: String) async throws -> (key: [String: String], clock: String, serial: String) {
        let key = ["Authorization": "Bearer \(server.tenantA.testKey)"]
        #expect(try await server.send("PUT", "/api/v1/program", body: program, headers: key).status == 200)
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        _ = try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: Data(try writer.finish()), headers: key)
        let clock = try #require(try await server.send("POST", "/api/v1/test-clocks", body: #"{"frozenTime":"\#(time)"}"#, headers: key).json?["id"] as? String)
        let created = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M","memberName":"N","points":0,"testClock":"\#(clock)"}"#, headers: key)
        return (key, clock, try #require(created.json?["serialNumber"] as? String))
    }

    func advance(_ server: LiveServer, _ clock: String, to time: String, _ key: [String: String]) async throws {
        #expect(try await server.send("POST", "/api/v1/test-clocks/\(clock)/advance", body: #"{"frozenTime":"\#(time)"}"#, headers: key).status == 200)
        for _ in 0..<400 {
            if try await server.send("GET", "/api/v1/test-clocks/\(clock)", headers: key).json?["status"] as? String == "ready" { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("the clock never became ready")
    }

    @Test("tiers from a rolling window: each change recomputes the card's tier, refunds take it back, the window forgets; the multiplier follows", arguments: TestDatabase.available)
    func tiers(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let (key, clock, serial) = try await clockedCard(server, program: #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}],"tierMultipliers":{"Gold":200},"tiers":{"windowDays":30,"levels":[{"name":"Member","minPoints":0},{"name":"Silver","minPoints":100},{"name":"Gold","minPoints":300}]},"expiry":{"afterDays":90},"reminders":{"daysBefore":[28,7]},"quietHours":{"start":0,"end":1},"timeZone":"UTC","effectiveAt":"2000-01-01T00:00:00Z"}"#, at: "2027-01-01T10:00:00Z")
        func card() async throws -> (fields: [String: Any], version: Int, points: Int) {
            let json = try #require(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json)
            return (json["fields"] as? [String: Any] ?? [:], json["version"] as? Int ?? 0, json["points"] as? Int ?? -1)
        }
        #expect(try await card().fields["tier"] as? String == "Member", "a new member starts in the first tier")
        #expect(try await purchase(server, serial, key, amount: 100_000, reference: "P1").json?["pointsEarned"] as? Int == 100)
        #expect(try await card().fields["tier"] as? String == "Silver")
        _ = try await purchase(server, serial, key, amount: 200_000, reference: "P2")
        var now = try await card()
        #expect(now.fields["tier"] as? String == "Gold" && now.version == 3, "the tier moves in the purchase's own version")
        // Gold earns double.
        #expect(try await purchase(server, serial, key, amount: 100_000, reference: "P3").json?["pointsEarned"] as? Int == 200)
        // Refunds take back what counted: 500 earned, less 200, is still Gold; less 100 more is Silver.
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/purchases/P2/refund", body: "{}", headers: key).status == 201)
        #expect(try await card().fields["tier"] as? String == "Gold")
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/purchases/P1/refund", body: "{}", headers: key).status == 201)
        now = try await card()
        #expect(now.fields["tier"] as? String == "Silver" && now.points == 200)

        // Past the 28-day milestone (and the 30-day window): the reminder's change redraws the words and the tier alike.
        try await advance(server, clock, to: "2027-03-05T00:00:00Z", key)
        now = try await card()
        #expect(now.fields["pointsExpiring"] as? String == "200 points expire on 1 April" && now.fields["expiryStage"] as? String == "28")
        #expect(now.fields["tier"] as? String == "Member", "what was earned in January is out of the window")
        // The pass shows the words on its front, with the lock-screen message, and on its back; its tier field follows.
        let pass = try PassPreview(pkpass: Array(try await server.send("GET", "/api/v1/cards/\(serial)/pass.pkpass", headers: key).body))
        #expect(pass.auxiliaryFields.first { $0.key == "expiring" }?.value == "200 points expire on 1 April")
        #expect(pass.backFields.first { $0.key == "expiringDetail" }?.value == "200 points expire on 1 April")
        #expect(pass.headerFields.first { $0.key == "tier" }?.value == "Member")
        // A redemption takes from the expiring lot: the words say what is left, in the redemption's own version.
        let spent = try await server.send("POST", "/api/v1/cards/\(serial)/transactions", body: #"{"points":-50,"reason":"gift"}"#, headers: key)
        #expect(spent.status == 201 && spent.json?["version"] as? Int == now.version + 1)
        let after = try await card()
        #expect(after.fields["pointsExpiring"] as? String == "150 points expire on 1 April" && after.version == now.version + 1)
        // The 7-day reminder says how near it is, so it reaches the lock screen too.
        try await advance(server, clock, to: "2027-03-26T00:00:00Z", key)
        #expect(try await card().fields["pointsExpiring"] as? String == "Only 7 days left: 150 points expire on 1 April")
        // Spending all of the expiring points: calm again, the words gone.
        _ = try await server.send("POST", "/api/v1/cards/\(serial)/transactions", body: #"{"points":-150,"reason":"spa"}"#, headers: key)
        now = try await card()
        #expect(now.fields["pointsExpiring"] == nil && now.fields["expiryStage"] as? String == "calm" && now.points == 0)
        await server.stop()
    }

    @Test("a template's own program: its cards earn by it, versioned in the tenant's numbering; removing it hands them back; bad names are 404", arguments: TestDatabase.available)
    func templatePrograms(kind: TestDatabase) async throws {
        let (server, key, standard) = try await TransactionTests().setUp(kind)
        _ = try await server.send("PUT", "/api/v1/program", body: Self.tenPercentCash, headers: key)
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        #expect(try await server.send("POST", "/api/v1/templates?name=premium", bodyData: Data(try writer.finish()), headers: key).status == 201)
        let own = try await server.send("PUT", "/api/v1/program?template=premium", body: #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash","card"],"percent":20}],"tiers":{"windowDays":365,"levels":[{"name":"Premium","minPoints":0}]}}"#, headers: key)
        #expect(own.status == 200 && own.json?["version"] as? Int == 2 && own.json?["template"] is String)
        #expect(try await server.send("PUT", "/api/v1/program?template=nothing", body: Self.tenPercentCash, headers: key).status == 404)
        #expect(try await server.send("PUT", "/api/v1/program?template=premium", body: #"{"currency":"EUR","earnRules":7}"#, headers: key).status == 422)
        // Another tenant, or the test mode, knows no such template.
        #expect(try await server.send("GET", "/api/v1/program?template=premium", headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 404)
        #expect(try await server.send("GET", "/api/v1/program?template=premium", headers: ["Authorization": "Bearer \(server.tenantA.testKey)"]).status == 404)

        let created = try await server.send("POST", "/api/v1/cards", body: #"{"template":"premium","memberId":"P","memberName":"Pia","points":0}"#, headers: key)
        let premium = try #require(created.json?["serialNumber"] as? String)
        #expect((created.json?["fields"] as? [String: Any])?["tier"] as? String == "Premium", "a new card starts in its own program's first tier")
        #expect(try await purchase(server, standard, key, amount: 10_000, reference: "S1").json?["pointsEarned"] as? Int == 10)
        let bought = try await purchase(server, premium, key, amount: 10_000, method: "card", reference: "P1")
        #expect(bought.json?["pointsEarned"] as? Int == 20 && (bought.json?["purchase"] as? [String: Any])?["programVersion"] as? Int == 2)
        #expect(try await server.send("GET", "/api/v1/program", headers: key).json?["earnRules"] as? [[String: Any]] != nil)
        #expect((try await server.send("GET", "/api/v1/program", headers: key).json?["template"]) is NSNull)
        #expect(((try await server.send("GET", "/api/v1/program?template=premium", headers: key).json?["earnRules"] as? [[String: Any]])?.first?["percent"]) as? Int == 20)

        // Removed: the template's cards follow the tenant's program again; what was earned keeps its version.
        #expect(try await server.send("DELETE", "/api/v1/program", headers: key).status == 400)
        let handedBack = try await server.send("DELETE", "/api/v1/program?template=premium", headers: key)
        #expect(handedBack.status == 200 && handedBack.json?["version"] as? Int == 1)
        #expect(try await server.send("DELETE", "/api/v1/program?template=premium", headers: key).status == 404)
        #expect(try await purchase(server, premium, key, amount: 10_000, method: "card", reference: "P2").json?["pointsEarned"] as? Int == 0)
        let again = try await purchase(server, premium, key, amount: 10_000, reference: "P3")
        #expect(again.json?["pointsEarned"] as? Int == 10 && (again.json?["purchase"] as? [String: Any])?["programVersion"] as? Int == 1)
        let ledger = try #require(try await server.send("GET", "/api/v1/cards/\(premium)/transactions", headers: key).json?["transactions"] as? [[String: Any]])
        #expect(ledger.compactMap { $0["programVersion"] as? Int } == [1, 2])
        await server.stop()
    }

    @Test("the program summary: points held and what expires within 7, 28 and 90 days; voided cards and other modes left out", arguments: TestDatabase.available)
    func summary(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        _ = try await server.send("PUT", "/api/v1/program", body: #"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}],"expiry":{"afterDays":90}}"#, headers: key)
        _ = try await purchase(server, serial, key, amount: 100_000, reference: "S1")
        let other = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"B","memberName":"Bo","points":40}"#, headers: key)
        let second = try #require(other.json?["serialNumber"] as? String)
        func summary(_ headers: [String: String], _ query: String = "") async throws -> LiveServer.Reply {
            try await server.send("GET", "/api/v1/program/summary" + query, headers: headers)
        }
        var reply = try await summary(key)
        #expect(reply.status == 200 && reply.json?["points"] as? Int == 260 && reply.json?["cards"] as? Int == 2)
        var windows = (reply.json?["expiring"] as? [[String: Any]])?.map { [$0["withinDays"] as? Int, $0["points"] as? Int, $0["cards"] as? Int] }
        #expect(windows == [[7, 0, 0], [28, 0, 0], [90, 140, 2]], "the opening 120 before the program never expire")
        #expect(try await server.send("POST", "/api/v1/cards/\(second)/void", headers: key).status == 200)
        reply = try await summary(key, "?template=lumen")
        windows = (reply.json?["expiring"] as? [[String: Any]])?.map { [$0["withinDays"] as? Int, $0["points"] as? Int, $0["cards"] as? Int] }
        #expect(reply.json?["points"] as? Int == 220 && windows?.last == [90, 100, 1])
        #expect(try await summary(key, "?template=nothing").status == 404)
        #expect(try await summary(["Authorization": "Bearer \(server.tenantA.testKey)"]).json?["points"] as? Int == 0)
        #expect(try await summary(["Authorization": "Bearer \(server.tenantB.liveKey)"]).json?["cards"] as? Int == 0)
        await server.stop()
    }
}
