import PasslineSQL
import PasslineStore
import PasslineTestSupport
import Synchronization

/// A migrated database with one tenant ("t1"), one template ("tpl") and `cards` cards registered on one device.
func seeded(_ kind: TestDatabase, cards: Int = 0, device: String = "device-1", maxConnections: Int = 8) async throws -> any SQLDatabase {
    let database = try await kind.make(maxConnections: maxConnections)
    try await Migrator.migrate(database)
    try await database.transaction { connection in
        try TenantRows.create(id: "t1", name: "Lumen Clinic", now: 1, on: connection)
        try TemplateRows.create(id: "tpl", tenant: "t1", name: "loyalty", passJSON: Array("{}".utf8), now: 1, on: connection)
        for i in 0..<cards {
            try CardRows.insert(card(i), tenant: "t1", now: 1, on: connection)
            _ = try Devices.register(tenant: "t1", device: device, pushToken: "token-\(device)", passType: "pass.test", serial: "S\(i)", now: 1, on: connection)
        }
    }
    return database
}

func card(_ i: Int, name: String = "Member") -> CardRows.NewCard {
    CardRows.NewCard(serialNumber: "S\(i)", templateID: "tpl", memberID: "M\(i)", memberName: name,
                    authenticationToken: "auth-token-0123456789-\(i)", publicToken: "public-\(i)", points: 0)
}

/// State that concurrent test tasks share.
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func update<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
    var current: Value { value.withLock { $0 } }
}
