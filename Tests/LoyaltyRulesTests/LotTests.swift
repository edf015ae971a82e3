import LoyaltyRules
import PasslineTestSupport
import Testing

@Suite("Point lots: soonest expiry first, and the books always balance")
struct LotTests {
    @Test("lots are taken soonest-expiring first, never-expiring last, ties by age")
    func order() {
        let lots = [PointLot(id: 1, remaining: 10, expiresAt: nil), PointLot(id: 2, remaining: 10, expiresAt: 500),
                    PointLot(id: 3, remaining: 10, expiresAt: 100), PointLot(id: 4, remaining: 10, expiresAt: 100)]
        #expect(LotAccounting.take(25, from: lots).map(\.id) == [3, 4, 2])
        #expect(LotAccounting.take(25, from: lots).map(\.taken) == [10, 10, 5])
        #expect(LotAccounting.take(0, from: lots).isEmpty && LotAccounting.take(-5, from: lots).isEmpty)
        #expect(LotAccounting.take(100, from: lots).map(\.taken).reduce(0, +) == 40)
    }

    @Test("a refund takes back its share, what earlier refunds did not, never more than is left of its lot; 128-bit middle")
    func refunds() {
        #expect(RefundRule.points(earned: 10, amount: 10_000, refundedBefore: 0, refunding: 5_000, reversedBefore: 0, lotRemaining: 10) == 5)
        #expect(RefundRule.points(earned: 10, amount: 10_000, refundedBefore: 5_000, refunding: 5_000, reversedBefore: 5, lotRemaining: 5) == 5)
        #expect(RefundRule.points(earned: 10, amount: 10_000, refundedBefore: 0, refunding: 10_000, reversedBefore: 0, lotRemaining: 3) == 3)
        #expect(RefundRule.points(earned: 10, amount: 3, refundedBefore: 0, refunding: 1, reversedBefore: 0, lotRemaining: 10) == 3)
        #expect(RefundRule.points(earned: 1_000_000_000, amount: Program.maxAmount, refundedBefore: 0, refunding: Program.maxAmount - 1,
                                  reversedBefore: 0, lotRemaining: 1_000_000_000) == 999_999_999)
        #expect(RefundRule.points(earned: 0, amount: 100, refundedBefore: 0, refunding: 100, reversedBefore: 0, lotRemaining: 0) == 0)
    }

    /// A card's books, kept by the rules alone.
    struct Books {
        var lots: [PointLot] = []
        var ledger: [Int64] = []
        var nextID: Int64 = 1
        var balance: Int64 { lots.map(\.remaining).reduce(0, +) }

        mutating func earn(_ points: Int64, expiresAt: Int64?) -> Int64 {
            lots.append(PointLot(id: nextID, remaining: points, expiresAt: expiresAt))
            ledger.append(points)
            nextID += 1
            return nextID - 1
        }

        mutating func take(_ taken: [(id: Int64, taken: Int64)]) {
            for (id, amount) in taken { lots[lots.firstIndex { $0.id == id }!].remaining -= amount }
            ledger.append(-taken.map(\.taken).reduce(0, +))
        }
    }

    @Test("random earn, redeem, refund and expire sequences: balance = open lots = ledger, never negative")
    func invariants() {
        var generator = SplitMix(seed: 2026)
        for _ in 0..<300 {
            var books = Books()
            var purchases: [(lot: Int64, earned: Int64, amount: Int64, refunded: Int64, reversed: Int64)] = []
            var now: Int64 = 0
            for _ in 0..<60 {
                now += Int64(generator.next() % 10)
                switch generator.next() % 4 {
                case 0:
                    let amount = Int64(generator.next() % 100_000) + 1
                    let earned = amount / 1_000
                    let lot = books.earn(earned, expiresAt: generator.next() % 5 == 0 ? nil : now + Int64(generator.next() % 50))
                    purchases.append((lot, earned, amount, 0, 0))
                case 1:
                    let wanted = Int64(generator.next() % 120)
                    if wanted <= books.balance && wanted > 0 {
                        let taken = LotAccounting.take(wanted, from: books.lots)
                        #expect(taken.map(\.taken).reduce(0, +) == wanted)
                        books.take(taken)
                    }
                case 2 where !purchases.isEmpty:
                    let index = Int(generator.next() % UInt64(purchases.count))
                    let purchase = purchases[index]
                    let left = purchase.amount - purchase.refunded
                    guard left > 0 else { continue }
                    let refunding = Int64(generator.next() % UInt64(left)) + 1
                    let lot = books.lots.first { $0.id == purchase.lot }!
                    let points = RefundRule.points(earned: purchase.earned, amount: purchase.amount, refundedBefore: purchase.refunded,
                                                   refunding: refunding, reversedBefore: purchase.reversed, lotRemaining: lot.remaining)
                    #expect(points >= 0 && points <= lot.remaining)
                    books.take([(lot.id, points)])
                    purchases[index].refunded += refunding
                    purchases[index].reversed += points
                    #expect(purchases[index].reversed <= purchase.earned)
                default:
                    for lot in books.lots where (lot.expiresAt ?? .max) <= now && lot.remaining > 0 { books.take([(lot.id, lot.remaining)]) }
                }
                #expect(books.balance >= 0)
                #expect(books.lots.allSatisfy { $0.remaining >= 0 })
                #expect(books.balance == books.ledger.reduce(0, +))
            }
        }
    }
}
