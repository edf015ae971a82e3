import LoyaltyRules
import PasslineSQL

/// Purchases, known by the partner's reference once per tenant and mode, and their refunds.
public enum Purchases {
    public struct Purchase: Sendable, Equatable {
        public let reference: String
        public let serial: String
        public let amount: Int64
        public let currency: String
        public let paymentMethod: String
        public let occurredAt: Int64
        public let pointsEarned: Int64
        public let programVersion: Int64?
        public let amountRefunded: Int64
        public let pointsReversed: Int64
        public let createdAt: Int64

        public init(reference: String, serial: String, amount: Int64, currency: String, paymentMethod: String, occurredAt: Int64,
                    pointsEarned: Int64, programVersion: Int64?, amountRefunded: Int64 = 0, pointsReversed: Int64 = 0, createdAt: Int64) {
            self.reference = reference; self.serial = serial; self.amount = amount; self.currency = currency; self.paymentMethod = paymentMethod
            self.occurredAt = occurredAt; self.pointsEarned = pointsEarned; self.programVersion = programVersion
            self.amountRefunded = amountRefunded; self.pointsReversed = pointsReversed; self.createdAt = createdAt
        }
    }

    /// A reference already used: its request's hash and the answer it got.
    public struct Recorded: Sendable {
        public let requestHash: [UInt8]
        public let answer: [UInt8]
    }

    /// Claims the reference for `purchase`, with its answer to come (`setAnswer`). A concurrent
    /// claim of the same reference waits for this transaction, as a unique index makes it.
    /// - Returns: nil when claimed; what the reference holds when another purchase has it.
    public static func claim(_ purchase: Purchase, tenant: String, mode: CardMode, requestHash: [UInt8],
                             on connection: any SQLConnection) throws -> Recorded? {
        let inserted = try connection.execute("""
            INSERT INTO purchases (tenant_id, mode, reference, serial_number, amount, currency, payment_method, occurred_at, points_earned,
                                   program_version, request_hash, answer, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """, [.text(tenant), .text(mode.rawValue), .text(purchase.reference), .text(purchase.serial), .int(purchase.amount),
                  .text(purchase.currency), .text(purchase.paymentMethod), .int(purchase.occurredAt), .int(purchase.pointsEarned),
                  SQLValue(purchase.programVersion), .blob(requestHash), .blob([]), .int(purchase.createdAt)])
        guard inserted == 0 else { return nil }
        guard let row = try connection.first("SELECT request_hash, answer FROM purchases WHERE tenant_id = ? AND mode = ? AND reference = ?",
                                             [.text(tenant), .text(mode.rawValue), .text(purchase.reference)]) else {
            throw DomainError(.conflict, "The purchase \(purchase.reference) is being recorded by another request; try again.")
        }
        return Recorded(requestHash: try row.blob("request_hash"), answer: try row.blob("answer"))
    }

    public static func setAnswer(_ answer: [UInt8], reference: String, tenant: String, mode: CardMode, on connection: any SQLConnection) throws {
        try connection.execute("UPDATE purchases SET answer = ? WHERE tenant_id = ? AND mode = ? AND reference = ?",
                               [.blob(answer), .text(tenant), .text(mode.rawValue), .text(reference)])
    }

    /// A card's purchase by its reference; nil for another card's, another mode's or none.
    public static func find(reference: String, serial: String, tenant: String, mode: CardMode, on connection: any SQLConnection) throws -> Purchase? {
        try connection.first("""
            SELECT * FROM purchases WHERE tenant_id = ? AND mode = ? AND reference = ? AND serial_number = ?
            """, [.text(tenant), .text(mode.rawValue), .text(reference), .text(serial)]).map { row in
            Purchase(reference: try row.string("reference"), serial: try row.string("serial_number"), amount: try row.int("amount"),
                     currency: try row.string("currency"), paymentMethod: try row.string("payment_method"), occurredAt: try row.int("occurred_at"),
                     pointsEarned: try row.int("points_earned"), programVersion: try row.optionalInt("program_version"),
                     amountRefunded: try row.int("amount_refunded"), pointsReversed: try row.int("points_reversed"), createdAt: try row.int("created_at"))
        }
    }

    /// Locks the card's row for a change whose size depends on its lots (a refund), so that no
    /// other change takes from them meanwhile; returns its balance and version, or nil.
    public static func lockCard(serial: String, tenant: String, mode: CardMode, on connection: any SQLConnection) throws -> (points: Int64, version: Int64, voided: Bool)? {
        try connection.first("""
            SELECT points, version, voided FROM cards WHERE tenant_id = ? AND serial_number = ? AND mode = ?\(connection.dialect == .postgres ? " FOR UPDATE" : "")
            """, [.text(tenant), .text(serial), .text(mode.rawValue)]).map { (try $0.int("points"), try $0.int("version"), try $0.bool("voided")) }
    }

    /// What is left of the lot a purchase earned (0 when it earned none or all is spent).
    public static func lotRemaining(reference: String, serial: String, tenant: String, on connection: any SQLConnection) throws -> (lot: Int64, remaining: Int64)? {
        try connection.first("SELECT id, remaining FROM point_lots WHERE tenant_id = ? AND serial_number = ? AND purchase_reference = ?",
                             [.text(tenant), .text(serial), .text(reference)]).map { (try $0.int("id"), try $0.int("remaining")) }
    }

    public static func recordRefund(reference: String, tenant: String, mode: CardMode, amount: Int64, points: Int64, on connection: any SQLConnection) throws {
        try connection.execute("""
            UPDATE purchases SET amount_refunded = amount_refunded + ?, points_reversed = points_reversed + ? WHERE tenant_id = ? AND mode = ? AND reference = ?
            """, [.int(amount), .int(points), .text(tenant), .text(mode.rawValue), .text(reference)])
    }
}
