import Logging
import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import Testing

/// The lot accounting through the real store: random purchases, refunds, earns, redemptions and
/// expiries, applied the way the API applies them, keep the books balanced on both databases.
@Suite("Points books on the store")
struct PointsBooksTests {
    @Test("random sequences: balance = ledger = open lots, never negative, each refund and expiry once", arguments: TestDatabase.available)
    func randomSequences(kind: TestDatabase) async throws {
        let database = try await kind.make()
        try await Migrator.migrate(database)
        let tenants = Tenants(database: database, secrets: try SecretBox(key: SecretBox.generateKey()))
        let templates = Templates(database: database)
        let cards = Cards(database: database, templates: templates, tenants: tenants, publicURL: "https://cards.example.com")
        let jobs = JobQueue(database: database)
        let purchases = PointsPurchases(cards: cards, programs: cards.programs, jobs: jobs)
        let expiry = PointsScheduler(database: database, programs: cards.programs, jobs: jobs, logger: Logger(label: "test"))
        let serials = ["A", "B", "C"]
        try await database.transaction { connection in
            try TenantRows.create(id: "t1", name: "One", now: 1, on: connection)
            try TemplateRows.create(id: "tpl", tenant: "t1", name: "loyalty", passJSON: Array("{}".utf8), now: 1, on: connection)
            for serial in serials {
                try CardRows.insert(CardRows.NewCard(serialNumber: serial, templateID: "tpl", memberID: serial, memberName: serial,
                                                     authenticationToken: "token-\(serial)-0123456789", publicToken: "pub-\(serial)", points: 50),
                                    tenant: "t1", now: 1, on: connection)
            }
        }
        let program = try JSONParser.parse(#"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}],"expiry":{"afterDays":30},"effectiveAt":"2000-01-01T00:00:00Z"}"#).objectValue!
        _ = try await cards.programs.change(tenant: "t1", mode: .live, document: program, actor: "test", now: 2)

        var generator = SplitMix(seed: kind == .sqlite ? 11 : 12)
        var now = WallClock.milliseconds()
        var references: [(serial: String, reference: String)] = []
        for step in 0..<250 {
            now += Int64(generator.next() % 3) * Timestamp.millisecondsPerDay + Int64(generator.next() % 1_000)
            let serial = serials[Int(generator.next() % 3)]
            switch generator.next() % 5 {
            case 0, 1:
                let reference = "P\(step)"
                _ = try await purchases.purchase(.init(serial: serial, amount: Int64(generator.next() % 200_000) + 1, currency: "EUR",
                                                       paymentMethod: generator.next() % 4 == 0 ? "card" : "cash", reference: reference),
                                                 tenant: "t1", mode: .live, now: now) { _ in [] }
                references.append((serial, reference))
            case 2 where !references.isEmpty:
                let (owner, reference) = references[Int(generator.next() % UInt64(references.count))]
                let amount: Int64? = generator.next() % 2 == 0 ? nil : Int64(generator.next() % 50_000) + 1
                do {
                    _ = try await purchases.refund(serial: owner, reference: reference, amount: amount, tenant: "t1", mode: .live, idempotencyKey: nil,
                                                   requestHash: [], actor: "test", now: now) { _ in [] }
                } catch let error as DomainError where [.conflict, .invalid].contains(error.code) {
                    // Refunded in full already, or more than is left of it: refused, nothing changed.
                }
            case 3:
                let points = Int64(generator.next() % 120) - 80
                if points != 0 {
                    do {
                        _ = try await cards.transact(Cards.PointsRequest(serial: serial, points: points, reason: "random"), tenant: "t1", mode: .live,
                                                     jobs: jobs, render: { _ in [] }, now: now)
                    } catch let error as DomainError where error.code == .conflict {
                        // A redemption over the balance: refused.
                    }
                }
            default:
                try await expiry.expireDue(now: now)
            }
            try await checkBooks(database, serials: serials, at: step)
        }
        // Nothing stays due once the runner has been, and a second run finds nothing.
        try await expiry.expireDue(now: now)
        #expect(try await expiry.expireDue(now: now) == 0)
        let end = now
        let due = try await database.withConnection { try PointExpiries.dueCards(now: end, limit: 10, on: $0) }
        #expect(due.isEmpty)
        try await checkBooks(database, serials: serials, at: -1)
        // The sequence met every kind of entry, so the books above were tested on all of them.
        let types = try await database.withConnection { connection in
            Set(try connection.query("SELECT DISTINCT type FROM ledger_entries", []).map { try $0.string("type") })
        }
        #expect(types == ["adjust", "earn", "redeem", "expire", "refund"], "\(types)")
        await database.close()
    }

    func checkBooks(_ database: any SQLDatabase, serials: [String], at step: Int) async throws {
        try await database.withConnection { connection in
            for serial in serials {
                let balance = try connection.first("SELECT points FROM cards WHERE serial_number = ?", [.text(serial)])!.int("points")
                let ledger = try connection.first("SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) AS n FROM ledger_entries WHERE serial_number = ?", [.text(serial)])!.int("n")
                let row = try connection.first("SELECT CAST(COALESCE(SUM(remaining), 0) AS BIGINT) AS n, COALESCE(MIN(remaining), 0) AS low FROM point_lots WHERE serial_number = ?",
                                               [.text(serial)])!
                let (lots, lowest) = (try row.int("n"), try row.int("low"))
                #expect(balance >= 0 && balance == ledger && balance == lots && lowest >= 0,
                        "step \(step), card \(serial): balance \(balance), ledger \(ledger), lots \(lots)")
                // Every entry's balanceAfter continues the one before: one chain per card.
                var running: Int64 = 0
                for entry in try connection.query("SELECT points, balance_after FROM ledger_entries WHERE serial_number = ? ORDER BY id", [.text(serial)]) {
                    running += try entry.int("points")
                    #expect(try entry.int("balance_after") == running, "step \(step), card \(serial)")
                }
                // A refund never takes back more than its purchase earned.
                for purchase in try connection.query("SELECT points_earned, points_reversed, amount, amount_refunded FROM purchases WHERE serial_number = ?", [.text(serial)]) {
                    let (reversed, earned) = (try purchase.int("points_reversed"), try purchase.int("points_earned"))
                    let (refunded, amount) = (try purchase.int("amount_refunded"), try purchase.int("amount"))
                    #expect(reversed <= earned && refunded <= amount)
                }
            }
        }
    }
}
