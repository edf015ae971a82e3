import Foundation
import LoyaltyRules
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import Synchronization
import Testing

@Suite("Update tags")
struct UpdateTagTests {
    @Test("a device sees its changed serials and a lastUpdated to ask with next", arguments: TestDatabase.available)
    func basics(kind: TestDatabase) async throws {
        let database = try await seeded(kind, cards: 3)
        let all = try await database.withConnection { try DevicePollQuery.serialsUpdated(tenant: "t1", device: "device-1", passType: "pass.test", since: nil, on: $0) }
        #expect(all?.serialNumbers == ["S0", "S1", "S2"])
        let tag = try #require(all?.lastUpdated)
        #expect(try await database.withConnection { try DevicePollQuery.serialsUpdated(tenant: "t1", device: "device-1", passType: "pass.test", since: tag, on: $0) } == nil)
        _ = try await database.transaction { try CardRows.recordChange(tenant: "t1", serial: "S1", now: 2, on: $0) }
        let changed = try await database.withConnection { try DevicePollQuery.serialsUpdated(tenant: "t1", device: "device-1", passType: "pass.test", since: tag, on: $0) }
        #expect(changed?.serialNumbers == ["S1"])
        #expect(changed!.lastUpdated > tag)
        // Another tenant's device, or another pass type, sees nothing.
        #expect(try await database.withConnection { try DevicePollQuery.serialsUpdated(tenant: "t2", device: "device-1", passType: "pass.test", since: nil, on: $0) } == nil)
        #expect(try await database.withConnection { try DevicePollQuery.serialsUpdated(tenant: "t1", device: "device-1", passType: "pass.other", since: nil, on: $0) } == nil)
        await database.close()
    }

    @Test("polls answered together in one statement get each the answer it would get alone", arguments: TestDatabase.available)
    func batchedPolls(kind: TestDatabase) async throws {
        let database = try await seeded(kind, cards: 6)
        // Device ids as odd as a URL path can carry: each must stay one element of the arrays.
        let odd = ["a,b", "{x}", "NULL", "say \"hi\"", "back\\slash", " spaced ", "ünï😀"]
        let tag = try await database.transaction { connection -> Int64 in
            try TenantRows.create(id: "t2", name: "Other", now: 1, on: connection)
            try TemplateRows.create(id: "tpl2", tenant: "t2", name: "loyalty", passJSON: Array("{}".utf8), now: 1, on: connection)
            try CardRows.insert(CardRows.NewCard(serialNumber: "S0", templateID: "tpl2", memberID: "M0", memberName: "Other",
                                                   authenticationToken: "auth-token-0123456789-t2", publicToken: "public-t2", points: 0),
                                   tenant: "t2", now: 1, on: connection)
            _ = try Devices.register(tenant: "t2", device: "device-1", pushToken: "p", passType: "pass.test", serial: "S0", now: 1, on: connection)
            for (index, device) in odd.enumerated() {
                _ = try Devices.register(tenant: "t1", device: device, pushToken: "p\(index)", passType: "pass.test", serial: "S\(index % 6)", now: 1, on: connection)
            }
            return try CardRows.recordChange(tenant: "t1", serial: "S2", now: 2, on: connection).tag
        }
        var polls: [DevicePollQuery.Poll] = []
        for since in [nil, 0, tag - 1, tag] as [Int64?] {
            for device in ["device-1", "nobody", "with\u{0}nul"] + odd {
                polls.append(DevicePollQuery.Poll(tenant: "t1", device: device, passType: "pass.test", since: since))
            }
            polls.append(DevicePollQuery.Poll(tenant: "t2", device: "device-1", passType: "pass.test", since: since))
            polls.append(DevicePollQuery.Poll(tenant: "t1", device: "device-1", passType: "pass.other", since: since))
            polls.append(DevicePollQuery.Poll(tenant: "nobody", device: "device-1", passType: "pass.test", since: since))
        }
        let asked = polls
        let (batched, alone) = try await database.withConnection { connection in
            (try DevicePollQuery.serialsUpdated(asked, on: connection),
             try asked.map { poll in
                 poll.device.utf8.contains(0) ? nil
                     : try DevicePollQuery.serialsUpdated(tenant: poll.tenant, device: poll.device, passType: poll.passType, since: poll.since, on: connection)
             })
        }
        #expect(batched.count == polls.count)
        for (index, poll) in polls.enumerated() {
            #expect(batched[index] == alone[index], "\(poll)")
        }
        // The answers are not all empty: the comparison means something.
        #expect(batched.compactMap { $0 }.count >= 20)
        #expect(batched[0]?.serialNumbers == ["S0", "S1", "S2", "S3", "S4", "S5"])
        #expect(polls.indices.filter { polls[$0].since == tag - 1 && batched[$0] != nil }.map { polls[$0].device } == ["device-1", "NULL"])
        // Alone, an id with a NUL matches nothing either, not the device its text stops at.
        let cut = try await database.withConnection { connection in
            try DevicePollQuery.serialsUpdated([DevicePollQuery.Poll(tenant: "t1", device: "device-1\u{0}x", passType: "pass.test", since: nil)],
                                             on: connection)
        }
        #expect(cut == [nil])
        await database.close()
    }

    @Test("the tag taken with the COMMIT: the card gets it; for a card that is not there, nothing is committed", arguments: TestDatabase.available)
    func stampThenCommit(kind: TestDatabase) async throws {
        let database = try await seeded(kind, cards: 2)
        let before = try await database.withConnection { try DevicePollQuery.serialsUpdated(tenant: "t1", device: "device-1", passType: "pass.test", since: nil, on: $0) }
        let since = try #require(before).lastUpdated
        try await database.transaction { connection in
            try connection.execute("UPDATE cards SET points = 7 WHERE tenant_id = ? AND serial_number = ?", [.text("t1"), .text("S1")])
            try UpdateTags.stampThenCommit(tenant: "t1", serial: "S1", on: connection)
        }
        let after = try await database.withConnection { try DevicePollQuery.serialsUpdated(tenant: "t1", device: "device-1", passType: "pass.test", since: since, on: $0) }
        #expect(after?.serialNumbers == ["S1"])
        #expect(after?.lastUpdated == since + 1)

        await #expect(throws: DomainError.self) {
            try await database.transaction { connection in
                try connection.execute("UPDATE cards SET points = 99 WHERE tenant_id = ? AND serial_number = ?", [.text("t1"), .text("S0")])
                try UpdateTags.stampThenCommit(tenant: "t1", serial: "S404", on: connection)
            }
        }
        let points = try await database.withConnection { try $0.query("SELECT points FROM cards WHERE tenant_id = ? AND serial_number = ?", [.text("t1"), .text("S0")])[0].int("points") }
        #expect(points == 0)
        let tags = try await database.withConnection { try DevicePollQuery.serialsUpdated(tenant: "t1", device: "device-1", passType: "pass.test", since: nil, on: $0) }
        #expect(tags?.lastUpdated == since + 1)
        await database.close()
    }

    /// Slow writers (who hold their transaction open after taking a tag) interleave with fast ones
    /// while pollers ask "what changed since my last tag", as devices do. Every committed change
    /// must reach every poller. With tags from a plain sequence, a slow writer's lower tag commits
    /// after a poller has moved past it, and this test fails.
    @Test("pollers never miss a change, whatever the commit order", arguments: TestDatabase.available)
    func noMissedChange(kind: TestDatabase) async throws {
        let cards = 12
        let database = try await seeded(kind, cards: cards, maxConnections: 12)
        struct Write: Sendable { let serial: String; let tag: Int64 }
        let writes = Shared<[Write]>([])
        let done = Shared(false)

        struct Poll: Sendable { let since: Int64; let answer: UpdatedSerials? }
        @Sendable func poller() async throws -> [Poll] {
            var since: Int64 = -1
            var polls: [Poll] = []
            var finalRound = false
            while true {
                let finished = done.current
                let s = since
                let answer = try await database.withConnection { try DevicePollQuery.serialsUpdated(tenant: "t1", device: "device-1", passType: "pass.test", since: s, on: $0) }
                polls.append(Poll(since: since, answer: answer))
                if let answer { since = answer.lastUpdated }
                if finalRound { return polls }
                if finished { finalRound = true }
            }
        }

        try await withThrowingTaskGroup(of: [Poll]?.self) { group in
            for pollerIndex in 0..<2 { _ = pollerIndex; group.addTask { try await poller() } }
            group.addTask {
                try await withThrowingTaskGroup(of: Void.self) { writers in
                    for writer in 0..<6 {
                        writers.addTask {
                            for step in 0..<15 {
                                let serial = "S\((writer * 7 + step * 5) % cards)"
                                let slow = (writer + step) % 3 == 0
                                let tag = try await database.transaction { connection -> Int64 in
                                    let result = try CardRows.recordChange(tenant: "t1", serial: serial, now: 2, on: connection)
                                    // Hold the tag, uncommitted, while others go ahead.
                                    if slow { usleep(15_000) }
                                    return result.tag
                                }
                                writes.update { $0.append(Write(serial: serial, tag: tag)) }
                            }
                        }
                    }
                    try await writers.waitForAll()
                }
                done.update { $0 = true }
                return nil
            }
            var pollsPerPoller: [[Poll]] = []
            for try await result in group { if let result { pollsPerPoller.append(result) } }

            let committed = writes.current
            #expect(committed.count == 90)
            for polls in pollsPerPoller {
                let last = polls.compactMap(\.answer?.lastUpdated).max() ?? -1
                for write in committed {
                    #expect(write.tag <= last, "a change was never covered")
                    // The poll whose window (since, lastUpdated] holds the tag must list the serial.
                    guard let poll = polls.first(where: { $0.since < write.tag && write.tag <= ($0.answer?.lastUpdated ?? Int64.min) }) else {
                        Issue.record("no answer covered tag \(write.tag) of \(write.serial)")
                        continue
                    }
                    #expect(poll.answer!.serialNumbers.contains(write.serial), "tag \(write.tag) of \(write.serial) was missed")
                }
            }
        }
        await database.close()
    }
}
