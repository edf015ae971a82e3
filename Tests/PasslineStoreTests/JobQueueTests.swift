import Foundation
import LoyaltyRules
import PasslineDatabase
import PasslineSQL
import PasslineService
import PasslineStore
import PasslineTestSupport
import Synchronization
import Testing

@Suite("Job queue")
struct JobQueueTests {
    func job(_ n: Int, key: String? = nil, priority: JobPriority = .interactive, maxAttempts: Int = 3) -> NewJob {
        NewJob(kind: "apns.push", tenant: "t1", payload: #"{"n":\#(n)}"#, priority: priority, maxAttempts: maxAttempts, coalesceKey: key)
    }

    @Test("jobs are written with the change or not at all (outbox)", arguments: TestDatabase.available)
    func outbox(kind: TestDatabase) async throws {
        let database = try await seeded(kind, cards: 1)
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await database.transaction { connection in
                _ = try CardRows.recordChange(tenant: "t1", serial: "S0", now: 2, on: connection)
                try JobQueue.enqueue(job(1), now: 2, on: connection)
                throw Abort()
            }
        }
        let queue = JobQueue(database: database)
        #expect(try await queue.claim(limit: 10).isEmpty)
        try await database.transaction { connection in
            _ = try CardRows.recordChange(tenant: "t1", serial: "S0", now: 2, on: connection)
            try JobQueue.enqueue(job(2), now: 2, on: connection)
        }
        #expect(try await queue.claim(limit: 10).map(\.payload) == [#"{"n":2}"#])
        await database.close()
    }

    @Test("a job whose lease ran out on every attempt goes dead instead of being claimed forever", arguments: TestDatabase.available)
    func crashLoop(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        let queue = JobQueue(database: database)
        try await queue.enqueue([job(1, maxAttempts: 2), job(2, maxAttempts: 5)], now: 0)
        // Each worker "crashes" holding the jobs: its lease runs out and another claims them.
        var time: Int64 = 1_000
        for attempt in 1...2 {
            let taken = try await JobQueue(database: database, worker: "w\(attempt)").claim(limit: 10, leaseMilliseconds: 100, now: time)
            #expect(taken.count == 2 && taken.allSatisfy { $0.attempt == attempt })
            time += 1_000
        }
        let third = try await JobQueue(database: database, worker: "w3").claim(limit: 10, leaseMilliseconds: 100, now: time)
        #expect(third.map(\.attempt) == [3], "only the job with attempts left is claimed again")
        let dead = try await database.withConnection { try $0.first("SELECT state, last_error FROM jobs WHERE payload = ?", [.text(#"{"n":1}"#)]) }
        #expect(try dead?.string("state") == "dead")
        #expect(try dead?.string("last_error").contains("lease ran out") == true)
        await database.close()
    }

    @Test("a new change for a token waiting out a 429 backoff does not undo it, whether the change came before or after the answer", arguments: TestDatabase.available)
    func backoffKept(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        let queue = JobQueue(database: database)
        let key = "push:token-1:pass.test"
        // The answer first, then the change.
        try await queue.enqueue([job(1, key: key)], now: 0)
        let first = try await queue.claim(limit: 10, now: 1_000)
        _ = try await queue.fail(first[0], error: "APNs: 429 TooManyRequests", retryAfterMilliseconds: 60_000, now: 1_000)
        try await queue.enqueue([job(2, key: key)], now: 2_000)
        #expect(try await queue.claim(limit: 10, now: 3_000).isEmpty, "the change undid the backoff")
        let later = try await queue.claim(limit: 10, now: 61_001)
        #expect(later.map(\.payload) == [#"{"n":2}"#])
        // The change first (while the push is on the wire), then the answer.
        try await queue.enqueue([job(3, key: key)], now: 62_000)
        _ = try await queue.fail(later[0], error: "APNs: 429 TooManyRequests", retryAfterMilliseconds: 60_000, now: 62_000)
        #expect(try await queue.claim(limit: 10, now: 63_000).isEmpty, "the waiting change did not take over the backoff")
        #expect(try await queue.claim(limit: 10, now: 122_001).map(\.payload) == [#"{"n":3}"#])
        await database.close()
    }

    @Test("eight claimers never get the same job, and every job runs", arguments: TestDatabase.available)
    func concurrentClaimers(kind: TestDatabase) async throws {
        let database = try await seeded(kind, maxConnections: 10)
        let queue = JobQueue(database: database)
        try await queue.enqueue((0..<300).map { job($0) })
        let seen = Shared<[Int64]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask {
                    let worker = JobQueue(database: database, worker: "w\(w)")
                    while true {
                        let claimed = try await worker.claim(limit: 7)
                        if claimed.isEmpty { return }
                        for job in claimed { try await worker.complete(job) }
                        seen.update { $0.append(contentsOf: claimed.map(\.id)) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let ids = seen.current
        #expect(ids.count == 300)
        #expect(Set(ids).count == 300)
        #expect(try await queue.counts() == ["done": 300])
        await database.close()
    }

    @Test("finished jobs past their retention are purged, in chunks; waiting, running and recent ones stay", arguments: TestDatabase.available)
    func retention(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        let queue = JobQueue(database: database)
        try await queue.enqueue((0..<12).map { job($0) }, now: 1_000)
        // Ten done at t = 2,000 (seven of them) and t = 9,000 (three), one dead at t = 2,000, one left waiting.
        let claimed = try await queue.claim(limit: 11, now: 1_500)
        try await queue.complete(Array(claimed[0..<7]), now: 2_000)
        try await queue.complete(Array(claimed[7..<10]), now: 9_000)
        try await queue.fail(claimed[10], error: "refused for good", retry: false, now: 2_000)
        try await queue.enqueue([job(99)], now: 9_500)
        _ = try await queue.claim(limit: 1, kinds: nil, now: 9_600)  // one running
        #expect(try await queue.counts() == ["done": 10, "dead": 1, "ready": 1, "running": 1])

        var retention = JobRetention()
        retention.keepDoneMilliseconds = 5_000
        retention.keepDeadMilliseconds = 50_000
        retention.chunk = 3
        // Done before 10,000 - 5,000: the seven of t = 2,000, in chunks of three. The dead one is younger than its limit.
        #expect(try await retention.purge(queue, now: 10_000) == 7)
        #expect(try await queue.counts() == ["done": 3, "dead": 1, "ready": 1, "running": 1])
        #expect(try await retention.purge(queue, now: 10_000) == 0)
        #expect(try await retention.purge(queue, now: 60_000) == 4)
        #expect(try await queue.counts() == ["ready": 1, "running": 1])
        await database.close()
    }

    @Test("the kept counts by state equal a count of the table after every kind of move, also after a fold", arguments: TestDatabase.available)
    func keptCounts(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        let dialect = database.dialect
        let queue = JobQueue(database: database)
        func scanned() async throws -> [String: Int] {
            try await database.withConnection { connection in
                var counts: [String: Int] = [:]
                for row in try connection.query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state", []) { counts[try row.string("state")] = Int(try row.int("n")) }
                return counts
            }
        }
        func check(_ step: String) async throws {
            #expect(try await queue.counts() == scanned(), "after \(step)")
        }
        try await queue.enqueue((0..<40).map { job($0) } + (0..<30).map { job($0, key: "k\($0 % 5)") }, now: 1_000)
        try await check("enqueue with coalescing")
        try await queue.enqueue((0..<10).map { job($0, key: "k\($0 % 5)") }, now: 1_000)
        try await check("a coalescing enqueue that only updates")
        let claimed = try await queue.claim(limit: 30, now: 1_100)
        try await check("a claim")
        try await queue.complete(Array(claimed[0..<10]), now: 1_200)
        try await queue.complete(claimed[10], now: 1_200)
        _ = try await queue.fail(claimed[11], error: "transient", now: 1_200)
        _ = try await queue.fail(claimed[12], error: "for good", retry: false, now: 1_200)
        try await queue.release(claimed[13], afterMilliseconds: 10, now: 1_200)
        _ = try await queue.extendLeases(Array(claimed[14...]), milliseconds: 60_000, now: 1_200)
        try await check("complete, fail, release and lease extension")
        #expect(try await JobQueue(database: database, worker: "other").claim(limit: 100, leaseMilliseconds: 10, now: 500_000).count > 0)
        try await check("claims of jobs whose lease ran out")
        _ = try await queue.purgeFinished(doneBefore: 10_000, deadBefore: 10_000)
        try await check("a purge")
        let folded = try await database.transaction { try JobCounts.fold(on: $0) }
        #expect(dialect == .sqlite ? folded == 0 : folded > 0, "PostgreSQL's statements left deltas to fold")
        try await check("a fold")
        try await database.transaction { _ = try $0.execute("DELETE FROM tenants WHERE id = 't1'", []) }
        try await check("a tenant's removal (cascade)")
        #expect(try await queue.counts().isEmpty)
        await database.close()
    }

    @Test("1,000 changes to one card coalesce into one waiting job with the newest payload", arguments: TestDatabase.available)
    func coalescing(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        let queue = JobQueue(database: database)
        for batch in stride(from: 0, to: 1000, by: 100) {
            try await queue.enqueue((batch..<(batch + 100)).map { job($0, key: "push:token-1:pass.test", priority: $0 == 500 ? .interactive : .bulk) })
        }
        #expect(try await queue.counts() == ["ready": 1])
        let claimed = try await queue.claim(limit: 10)
        #expect(claimed.map(\.payload) == [#"{"n":999}"#])
        // A change while the job runs waits as a new job: the device gets the newest version after.
        try await queue.enqueue([job(1000, key: "push:token-1:pass.test")])
        try await queue.complete(claimed[0])
        #expect(try await queue.claim(limit: 10).map(\.payload) == [#"{"n":1000}"#])
        await database.close()
    }

    @Test("a change's pushes: one job per push token and pass type, the payload quoted by the store, test mode and campaign carried", arguments: TestDatabase.available)
    func pushJobs(kind: TestDatabase) async throws {
        let database = try await seeded(kind, cards: 2, device: "phone")  // "phone" holds S0 and S1
        // A push token is whatever the device sent: quotes, backslashes, control characters and
        // non-ASCII must come back from the payload exactly.
        let odd = "tok\"en\\ \u{1}é"
        try await database.transaction { connection in
            _ = try Devices.register(tenant: "t1", device: "tablet", pushToken: odd, passType: "pass.test", serial: "S0", now: 1, on: connection)
            _ = try Devices.register(tenant: "t1", device: "watch", pushToken: "token-watch", passType: "pass.other", serial: "S1", now: 1, on: connection)
        }
        let pushes = try await database.transaction { connection in
            try Consequences.write(.singleChange, tenant: "t1", serials: ["S0", "S1", "nobody"], mode: .live, now: 5, on: connection)
        }
        #expect(pushes == ["S0": 2, "S1": 2])  // registrations: phone S0, phone S1, tablet S0, watch S1
        let queue = JobQueue(database: database)
        let jobs = try await queue.claim(limit: 10, now: 10)
        func payload(_ job: ClaimedJob) throws -> [String: String] {
            try #require(JSONSerialization.jsonObject(with: Data(job.payload.utf8)) as? [String: String])
        }
        // The phone holds both cards under one pass type: one push, after which it asks what changed.
        #expect(Set(try jobs.map { try payload($0) }) == [
            ["tenant": "t1", "pushToken": "token-phone", "passType": "pass.test"],
            ["tenant": "t1", "pushToken": odd, "passType": "pass.test"],
            ["tenant": "t1", "pushToken": "token-watch", "passType": "pass.other"],
        ])
        #expect(Set(jobs.compactMap(\.coalesceKey)) == ["apns:t1:token-phone:pass.test", "apns:t1:\(odd):pass.test", "apns:t1:token-watch:pass.other"])
        #expect(jobs.allSatisfy { $0.kind == "apns.push" && $0.tenant == "t1" && $0.attempt == 1 && $0.maxAttempts == NewJob.defaultMaxAttempts })

        // Waiting jobs merge with a newer change's: a campaign's payload replaces the single change's.
        try await queue.complete(jobs, now: 11)
        try await database.transaction { connection in
            try Consequences.write(.singleChange, tenant: "t1", serials: ["S0"], mode: .live, now: 20, on: connection)
            try Consequences.write(.campaignStep("c-1"), tenant: "t1", serials: ["S0"], mode: .live, now: 21, on: connection)
            try Consequences.write(.singleChange, tenant: "t1", serials: ["S0"], mode: .test, now: 22, on: connection)
        }
        #expect(try await queue.counts() == ["done": 3, "ready": 4])
        let merged = try await queue.claim(limit: 10, now: 30)
        #expect(Set(try merged.map { try payload($0) }) == [
            ["tenant": "t1", "pushToken": "token-phone", "passType": "pass.test", "campaign": "c-1"],
            ["tenant": "t1", "pushToken": odd, "passType": "pass.test", "campaign": "c-1"],
            ["tenant": "t1", "pushToken": "token-phone", "passType": "pass.test", "mode": "test"],
            ["tenant": "t1", "pushToken": odd, "passType": "pass.test", "mode": "test"],
        ])
        // The store's SQL and PushJob's encoder write one contract: what the SQL made decodes,
        // and encodes again to the same JSON.
        for job in jobs + merged {
            let decoded = try PushJob(payload: job.payload)
            #expect(try payload(job) == (try #require(JSONSerialization.jsonObject(with: Data(decoded.payload.utf8)) as? [String: String])))
            #expect(job.kind == PushJob.kind)
        }
        #expect(throws: JobPayloadError.self) { try PushJob(payload: #"{"tenant":"t1","pushToken":"x","passType":"p","mode":"staging"}"#) }
        // The single change's urgency and time survive the merge with the campaign's.
        let rows = try await database.withConnection { try $0.query("SELECT priority, run_at FROM jobs WHERE state = 'running' AND coalesce_key NOT LIKE '%:test'", []) }
        #expect(try rows.map { try $0.int("priority") } == [0, 0])
        #expect(try rows.map { try $0.int("run_at") } == [20, 20])
        await database.close()
    }

    @Test("a single card's job goes before a campaign's", arguments: TestDatabase.available)
    func priorities(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        let queue = JobQueue(database: database)
        try await queue.enqueue((0..<50).map { job($0, priority: .bulk) })
        try await queue.enqueue([job(99, priority: .interactive)])
        #expect(try await queue.claim(limit: 1).map(\.payload) == [#"{"n":99}"#])
        await database.close()
    }

    @Test("a failure backs off, and after the last attempt the job is dead with its error", arguments: TestDatabase.available)
    func backoffAndDead(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        let queue = JobQueue(database: database)
        try await queue.enqueue([job(1, maxAttempts: 2)], now: 0)
        let first = try #require(try await queue.claim(limit: 1, now: 0).first)
        #expect(first.attempt == 1)
        #expect(try await queue.fail(first, error: "503 from APNs", now: 0) == "ready")
        #expect(try await queue.claim(limit: 1, now: 100).isEmpty, "retried before its backoff")
        let second = try #require(try await queue.claim(limit: 1, now: 10_000).first)
        #expect(second.attempt == 2)
        #expect(try await queue.fail(second, error: "503 again", now: 10_000) == "dead")
        #expect(try await queue.claim(limit: 1, now: 100_000_000).isEmpty)
        let row = try await database.withConnection { try $0.first("SELECT state, last_error FROM jobs", []) }
        #expect(try row?.string("state") == "dead")
        #expect(try row?.string("last_error") == "503 again")

        try await queue.enqueue([job(2)], now: 0)
        let bad = try #require(try await queue.claim(limit: 1, now: 0).first)
        #expect(try await queue.fail(bad, error: "400 BadTopic", retry: false, now: 0) == "dead")
        await database.close()
    }

    @Test("backoff grows exponentially, with jitter, up to an hour")
    func backoffCurve() {
        for attempt in 1...20 {
            let delay = JobQueue.backoff(attempt: attempt)
            let base = min(3_600_000.0, 1000 * pow(2, Double(attempt - 1)))
            #expect(Double(delay) >= base * 0.5 && Double(delay) <= base * 1.5)
        }
    }

    @Test("a worker that dies leaves its leased jobs to others once the lease runs out", arguments: TestDatabase.available)
    func leaseExpiry(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        let dead = JobQueue(database: database, worker: "dead")
        let alive = JobQueue(database: database, worker: "alive")
        try await dead.enqueue([job(1), job(2)], now: 0)
        let held = try await dead.claim(limit: 10, leaseMilliseconds: 1000, now: 0)
        #expect(held.count == 2)
        #expect(try await alive.claim(limit: 10, now: 500).isEmpty, "taken while still leased")
        let taken = try await alive.claim(limit: 10, now: 2000)
        #expect(taken.map(\.id) == held.map(\.id))
        #expect(taken.allSatisfy { $0.attempt == 2 })
        await #expect(throws: DomainError.self) { try await dead.complete(held[0]) }
        for job in taken { try await alive.complete(job) }
        #expect(try await alive.counts() == ["done": 2])
        await database.close()
    }

    @Test("a waiting worker wakes when a job is enqueued, in this process or another", arguments: TestDatabase.available)
    func wakeups(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        let worker = JobQueue(database: database)
        let listening = worker.listenForOtherProcesses()
        defer { listening?.cancel() }
        // Same process: the enqueuing queue signals after commit. The wait's timeout is long
        // enough that only the signal can end it in time; whether it did is what is checked,
        // not how long it took on a loaded machine.
        async let woke = worker.waitForWork(timeoutMilliseconds: 120_000)
        try await Task.sleep(for: .milliseconds(50))
        try await worker.enqueue([job(1)])
        #expect(await woke, "the enqueue did not wake the worker")

        if kind == .postgres {
            // Another process: a second database handle, as another instance would have.
            let other = JobQueue(database: try await TestDatabase.reopen(database))
            try await Task.sleep(for: .milliseconds(300)) // LISTEN is in place
            _ = try await worker.claim(limit: 10)
            async let wokeByOther = worker.waitForWork(timeoutMilliseconds: 120_000)
            try await Task.sleep(for: .milliseconds(50))
            try await other.enqueue([job(2)])
            #expect(await wokeByOther, "LISTEN/NOTIFY did not wake the worker")
        }
        await database.close()
    }

    @Test("a signal that came while a worker was looking is not slept through, even when another waiter took it")
    func signalBetweenLookAndWait() async throws {
        let database = try await seeded(.sqlite)
        let queue = JobQueue(database: database)
        // Another waiter (the campaign runner, say) is already waiting.
        async let other = queue.waitForWork(timeoutMilliseconds: 120_000)
        try await Task.sleep(for: .milliseconds(50))
        let seen = queue.workSignals          // this worker looks for work: none yet
        queue.notifyCommitted()               // a change commits before it starts waiting
        #expect(await other)
        #expect(await queue.waitForWork(since: seen, timeoutMilliseconds: 120_000), "the worker slept through the signal")
        await database.close()
    }
}

@Suite("Hostile input in the store")
struct HostileInputTests {
    @Test("NULs and over-long values are refused naming the field; SQL fragments are stored as text", arguments: TestDatabase.available)
    func hostile(kind: TestDatabase) async throws {
        let database = try await seeded(kind)
        await #expect { try await database.transaction { try CardRows.insert(card(1, name: "a\u{0}b"), tenant: "t1", now: 1, on: $0) } } throws: {
            "\($0)".contains("memberName must not contain NUL")
        }
        let huge = String(repeating: "x", count: 1 << 20)
        await #expect { try await database.transaction { try CardRows.insert(card(2, name: huge), tenant: "t1", now: 1, on: $0) } } throws: {
            "\($0)".contains("memberName is 1048576 characters long; at most 256")
        }
        let sql = "Robert'); DROP TABLE cards;-- \"💥\" \\ %s %n ?"
        try await database.transaction { try CardRows.insert(card(3, name: sql), tenant: "t1", now: 1, on: $0) }
        let stored = try await database.withConnection { try $0.first("SELECT member_name FROM cards WHERE serial_number = 'S3'", []) }
        #expect(try stored?.string("member_name") == sql)
        await #expect { try await database.transaction { try CardRows.insert(card(3), tenant: "t1", now: 1, on: $0) } } throws: {
            ($0 as? DomainError)?.code == .conflict
        }
        let unknownTemplate = { var c = card(4); c.templateID = "nope"; return c }()
        await #expect { try await database.transaction { try CardRows.insert(unknownTemplate, tenant: "t1", now: 1, on: $0) } } throws: {
            ($0 as? DomainError)?.code == .notFound
        }
        await database.close()
    }
}

@Suite("Job queue across processes")
struct CrashTests {
    @Test("a claimer killed with SIGKILL while holding leases loses no job", arguments: TestDatabase.available)
    func killedClaimer(kind: TestDatabase) async throws {
        let folder = TestSupport.temporaryFolder()
        let url = kind == .postgres ? try await TestDatabase.freshSchema() : "sqlite:" + folder.appendingPathComponent("store.sqlite").path
        let database = try await DatabaseURL(parsing: url).open()
        try await Migrator.migrate(database)
        let queue = JobQueue(database: database, worker: "survivor")
        try await queue.enqueue((0..<100).map { NewJob(kind: "apns.push", tenant: nil, payload: #"{"n":\#($0)}"#) })

        let claimer = Process()
        claimer.executableURL = URL(fileURLWithPath: TestSupport.passlineExecutable).deletingLastPathComponent().appendingPathComponent("PasslineTestClaimer")
        claimer.arguments = ["1500"]
        claimer.environment = ProcessInfo.processInfo.environment.merging(["PASSLINE_DATABASE_URL": url]) { $1 }
        let output = Pipe()
        claimer.standardOutput = output
        try claimer.run()
        let reading = output.fileHandleForReading
        let line = String(decoding: await TestSupport.offPool { reading.availableDataBlocking() }, as: UTF8.self)
        #expect(line.contains("completed 10 holding 25"), "\(line)")
        kill(claimer.processIdentifier, SIGKILL)
        await TestSupport.waitForExit(claimer)
        #expect(claimer.terminationReason == .uncaughtSignal)

        // The survivor works everything that is ready, then, once the dead claimer's leases
        // run out, what it held.
        var worked = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let claimed = try await queue.claim(limit: 20)
            if claimed.isEmpty {
                if (try await queue.counts())["done"] == 100 { break }
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            worked += claimed.count
            try await queue.complete(claimed)
        }
        #expect(try await queue.counts() == ["done": 100])
        #expect(worked == 90, "the survivor should do the 65 never claimed and the 25 held by the dead claimer")
        await database.close()
    }
}

extension FileHandle {
    /// Reads until the first newline (or end of file).
    /// read(2) with EINTR retried: Foundation's `availableData` traps when a signal interrupts it.
    func availableDataBlocking() -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fileDescriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return data }
            data.append(contentsOf: buffer[0..<count])
            if buffer[0..<count].contains(UInt8(ascii: "\n")) { return data }
        }
    }
}

@Suite("Hostile input in every text field")
struct HostileFieldTests {
    enum Field: String, CaseIterable, Sendable {
        case tenantName = "tenant name", templateName = "template name", serialNumber, memberId, memberName, fields, deviceLibraryIdentifier, pushToken
    }

    func write(_ field: Field, _ value: String, on connection: any SQLConnection) throws {
        switch field {
        case .tenantName: try TenantRows.create(id: "t-new", name: value, now: 1, on: connection)
        case .templateName: try TemplateRows.create(id: "tpl-new", tenant: "t1", name: value, passJSON: [], now: 1, on: connection)
        case .serialNumber: var c = card(9); c.serialNumber = value; try CardRows.insert(c, tenant: "t1", now: 1, on: connection)
        case .memberId: var c = card(9); c.memberID = value; try CardRows.insert(c, tenant: "t1", now: 1, on: connection)
        case .memberName: try CardRows.insert(card(9, name: value), tenant: "t1", now: 1, on: connection)
        case .fields: var c = card(9); c.fieldsJSON = value; try CardRows.insert(c, tenant: "t1", now: 1, on: connection)
        case .deviceLibraryIdentifier: _ = try Devices.register(tenant: "t1", device: value, pushToken: "p", passType: "pass.test", serial: "S0", now: 1, on: connection)
        case .pushToken: _ = try Devices.register(tenant: "t1", device: "d", pushToken: value, passType: "pass.test", serial: "S0", now: 1, on: connection)
        }
    }

    @Test("NUL bytes and 1 MB values are refused naming the field, and nothing is written", arguments: TestDatabase.available, Field.allCases)
    func refused(kind: TestDatabase, field: Field) async throws {
        let database = try await seeded(kind, cards: 1)
        for value in ["a\u{0}b", String(repeating: "é", count: 1 << 20)] {
            await #expect { try await database.transaction { try write(field, value, on: $0) } } throws: { error in
                (error as? DomainError)?.code == .invalid && "\(error)".lowercased().contains(field.rawValue.lowercased())
            }
        }
        let counts = try await database.withConnection { connection in
            try ["tenants", "templates", "cards", "devices"].map { try connection.first("SELECT COUNT(*) AS n FROM \($0)", [])!.int("n") }
        }
        #expect(counts == [1, 1, 1, 1])
        await database.close()
    }
}
