import LoyaltyRules
import PasslineCrypto
import PasslineSQL
import PasslineStore

/// What Apple's pass web service does for the devices that hold a tenant's passes: proves a
/// device holds a pass, registers it for pushes, answers its polls, keeps its log messages.
/// The HTTP adapter checks the shape of what Wallet sends; the rules live here.
public final class WalletDevices: Sendable {
    let database: any SQLDatabase
    let cards: Cards
    let polls: DevicePolls
    /// A card on more devices than this is refused a new one (a leaked token stays contained).
    public let maxDevicesPerCard: Int
    /// Log messages kept a tenant; the oldest go first.
    public let keptLogMessages = 1000

    public init(cards: Cards, maxDevicesPerCard: Int = 10) {
        self.database = cards.database
        self.cards = cards
        self.polls = DevicePolls(database: cards.database)
        self.maxDevicesPerCard = maxDevicesPerCard
    }

    /// The card whose pass the device proved it holds: one query for the tenant's pass type and
    /// the card, the token compared in constant time. Unknown tenant, wrong pass type, unknown
    /// serial and wrong token are all nil, so an answer never tells which serials exist.
    /// - Parameter token: nil only for Wallet's sign-up post, which proves itself with its own token.
    public func holder(tenant: String, passType: String, serial: String, token: String?) async throws -> Cards.Card? {
        let row = try await database.withConnection { connection in
            try connection.first("""
                SELECT c.*, s.pass_type_identifier AS pass_type FROM cards c
                JOIN signing_identities s ON s.tenant_id = c.tenant_id
                WHERE c.tenant_id = ? AND c.serial_number = ?
                """, [.text(tenant), .text(serial)])
        }
        guard let row, try row.string("pass_type") == passType, let card = try? Cards.card(row),
              token.map({ ConstantTime.equal(Array($0.utf8), Array(card.authenticationToken.utf8)) }) ?? true else { return nil }
        return card
    }

    /// The signed pass for a device that holds `card` (built once a version), recorded as
    /// fetched: the partner API tells "delivered" from "opened" by it. The adapter asks only
    /// once it knows the device's copy is older, so a current copy costs no build.
    public func latestPass(of card: Cards.Card) async throws -> [UInt8] {
        let pass = try await cards.pass(card)
        try await cards.recordFetch(card)
        return pass
    }

    /// Registers a device for the card's pushes (a rotated push token replaces the old one).
    /// - Returns: true when the device is new for this card.
    /// - Throws: `DomainError.invalid` when the card is on `maxDevicesPerCard` devices already.
    public func register(device: String, pushToken: String, for card: Cards.Card, passType: String) async throws -> Bool {
        let limit = maxDevicesPerCard
        return try await database.transaction { connection in
            try Devices.register(tenant: card.tenant, device: device, pushToken: pushToken, passType: passType, serial: card.serialNumber,
                                 now: WallClock.milliseconds(), maxDevicesPerCard: limit, on: connection)
        }
    }

    /// Stops pushes for the card to the device; the device goes once it holds no passes.
    public func unregister(device: String, from card: Cards.Card, passType: String) async throws {
        _ = try await database.transaction { connection in
            try Devices.unregister(tenant: card.tenant, device: device, passType: passType, serial: card.serialNumber, on: connection)
        }
    }

    /// The serials of the device's passes of the type whose tag is above `since`, and the tag to
    /// ask with next; nil when nothing changed. Polls go to the store in batches (`DevicePolls`).
    public func serialsUpdated(tenant: String, device: String, passType: String, since: Int64?) async throws -> ChangedSerials? {
        try await polls.serialsUpdated(DevicePolls.Poll(tenant: tenant, device: device, passType: passType, since: since))
    }

    /// Keeps what devices report about a tenant's passes, bounded a tenant.
    /// - Throws: `DomainError.notFound` for an unknown tenant.
    public func log(tenant: String, messages: [String]) async throws {
        let keep = keptLogMessages
        let known = try await database.transaction { connection -> Bool in
            guard try Devices.passType(tenant: tenant, on: connection) != nil else { return false }
            try Devices.log(tenant: tenant, messages: messages, now: WallClock.milliseconds(), keep: keep, on: connection)
            return true
        }
        guard known else { throw DomainError(.notFound, "No tenant \(tenant).") }
    }

    /// The tenant's newest device messages, newest first.
    public func logs(tenant: String, limit: Int) async throws -> [(message: String, at: Int64)] {
        try await database.withConnection { try Devices.logs(tenant: tenant, limit: limit, on: $0) }
    }
}
