import PasslineSQL
import PasslineService
import PasslineStore
import PasslineTestSupport
import Testing

@Suite("Device polls, batched")
struct DevicePollsTests {
    @Test("polls from many callers at once are batched and each gets its own answer", arguments: TestDatabase.available)
    func pollsAtOnce(kind: TestDatabase) async throws {
        let database = try await kind.make()
        try await Migrator.migrate(database)
        try await database.transaction { connection in
            try TenantRows.create(id: "t1", name: "Lumen Clinic", now: 1, on: connection)
            try TemplateRows.create(id: "tpl", tenant: "t1", name: "loyalty", passJSON: Array("{}".utf8), now: 1, on: connection)
            for i in 0..<40 {
                try CardRows.insert(CardRows.NewCard(serialNumber: "S\(i)", templateID: "tpl", memberID: "M\(i)", memberName: "Member",
                                                       authenticationToken: "auth-token-0123456789-\(i)", publicToken: "public-\(i)", points: 0),
                                       tenant: "t1", now: 1, on: connection)
                _ = try Devices.register(tenant: "t1", device: "device-\(i % 10)", pushToken: "p\(i)", passType: "pass.test", serial: "S\(i)", now: 1, on: connection)
            }
        }
        let polls = DevicePolls(database: database, maxBatchSize: 7)
        let answers = try await withThrowingTaskGroup(of: (Int, UpdatedSerials?).self) { group in
            for caller in 0..<200 {
                group.addTask {
                    let device = caller % 12 // devices 10 and 11 hold nothing
                    return (caller, try await polls.serialsUpdated(DevicePolls.Poll(tenant: "t1", device: "device-\(device)", passType: "pass.test", since: nil)))
                }
            }
            return try await group.reduce(into: [Int: UpdatedSerials?]()) { $0[$1.0] = $1.1 }
        }
        #expect(answers.count == 200)
        for (caller, answer) in answers {
            let device = caller % 12
            if device >= 10 {
                #expect(answer == nil)
            } else {
                #expect(answer?.serialNumbers == (0..<40).filter { $0 % 10 == device }.map { "S\($0)" }.sorted())
            }
        }
        await database.close()
        // A closed store fails each waiting poll with its error rather than leaving it hanging.
        await #expect(throws: (any Error).self) {
            try await polls.serialsUpdated(DevicePolls.Poll(tenant: "t1", device: "device-1", passType: "pass.test", since: nil))
        }
    }
}
