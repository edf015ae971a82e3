import ApplePass
import Foundation
import PasslineAPNsSim
import PasslineCrypto
import PasslineDatabase
import PasslinePush
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import PasslineZip
import Testing

@Suite("Crashes lose nothing")
struct CrashTests {
    /// `passline serve` as a child process, its output appended to `log`.
    static func serve(_ environment: [String: String], log: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestSupport.passlineExecutable)
        process.arguments = ["serve"]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    @Test("a server killed with SIGKILL in the middle of a 10,000-device campaign, started again, gets every device its push", arguments: TestDatabase.available)
    func killedMidCampaign(kind: TestDatabase) async throws {
        let folder = TestSupport.temporaryFolder()
        let bin = TestSupport.passlineExecutable
        var environment = ["PASSLINE_MASTER_KEY": Data(SecretBox.generateKey()).base64EncodedString(), "LOG_LEVEL": "warning",
                           "PASSLINE_LISTEN": "127.0.0.1:0"]
        environment["PASSLINE_DATABASE_URL"] = kind == .postgres ? try await TestDatabase.freshSchema() : "sqlite:\(folder.path)/passline.sqlite"
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.crash", "--team-id", "CRASHTEAM1"], in: folder)
        let created = try await TestSupport.run(bin, ["tenant", "create", "--name", "Crash", "--pass-type-id", "pass.dev.crash", "--team-id", "CRASHTEAM1",
                                                "--identity", "id", "--json"], environment: environment, in: folder)
        #expect(created.status == 0, "\(created.stderr)")
        let tenant = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])?["id"])

        // 2,000 cards with 5 devices each, straight into the store.
        let database = try await DatabaseURL(parsing: environment["PASSLINE_DATABASE_URL"]!).open(maxConnections: 1)
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        let template = try await Templates(database: database).create(tenant: tenant, name: "loyalty", zip: try writer.finish()).id
        let dialect = database.dialect
        try await database.transaction { connection in
            for card in 0..<2_000 {
                let serial = "S\(card)"
                try Records.insertCard(.init(serialNumber: serial, templateID: template, memberID: "M\(card)", memberName: "Member \(card)",
                                             authenticationToken: "token-\(card)-0123456789abcdef", publicToken: "public-\(card)", points: 10),
                                       tenant: tenant, now: 1, dialect: dialect, on: connection)
                for device in 0..<5 {
                    _ = try Records.register(tenant: tenant, device: "d\(card)-\(device)", pushToken: String(format: "%064x", card * 5 + device),
                                             passType: "pass.dev.crash", serial: serial, now: 1, on: connection)
                }
            }
        }
        await database.close()

        let credentials = try StandInCredentials.generate()
        let caFile = folder.appendingPathComponent("apns-ca.pem")
        TestSupport.write(credentials.authorityPEM, to: caFile)
        let root = try Data(contentsOf: folder.appendingPathComponent("id/root.pem"))
        let sim = try await APNsSimulator.start(.init(certificateChainPEM: credentials.certificateChainPEM, keyPEM: credentials.keyPEM, clientCAPEM: Array(root)))
        environment["PASSLINE_APNS_URL"] = "https://127.0.0.1:\(sim.port)"
        environment["PASSLINE_APNS_CA_FILE"] = caFile.path

        let log = folder.appendingPathComponent("serve.log")
        func serverLog() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        var server = try Self.serve(environment, log: log)
        let started = try await TestSupport.run(bin, ["campaign", "start", "--tenant", tenant, "--template", "loyalty"], environment: environment, in: folder)
        #expect(started.status == 0 && started.stdout.contains("2000 cards"), "\(started.stdout) \(started.stderr)")
        let campaign = try #require(started.stdout.split(separator: " ").first { $0.hasPrefix("cmp_") }.map { String($0.dropLast()) })

        #expect(try await Self.waitUntil(seconds: 60) { sim.pushes().count >= 1_500 }, "the campaign's pushes did not start: \(serverLog())")
        #expect(server.isRunning, "\(serverLog())")
        kill(server.processIdentifier, SIGKILL)
        await TestSupport.waitForExit(server)
        let atKill = Set(sim.pushes().map(\.token)).count
        #expect(atKill < 10_000, "killed in the middle, not after the end")

        server = try Self.serve(environment, log: log)
        // Pushes the dead process had claimed wait out its 30-second lease, then go again.
        let all = try await Self.waitUntil(seconds: 120) { Set(sim.pushes().map(\.token)).count == 10_000 }
        server.terminate()
        await TestSupport.waitForExit(server)
        let pushes = sim.pushes()
        #expect(all, "\(10_000 - Set(pushes.map(\.token)).count) devices never got their push (\(atKill) had it at the kill): \(serverLog())")
        // At least once: what the killed process had claimed and not yet settled goes again once
        // its lease runs out. That is at most a batch a lane (serve's defaults: three of 800 and
        // one of 100 for single changes). Leases are renewed from a thread of their own while a
        // batch is on the wire, and a request's timeout counts only its time on the wire, so a
        // slow machine adds no more.
        let defaults = PushWorker.Configuration()
        let inFlight = defaults.lanes * defaults.batchSize + defaults.interactiveBatchSize
        #expect(pushes.count - 10_000 <= inFlight, "\(pushes.count) pushes for 10,000 devices, \(atKill) devices had theirs at the kill; at most \(inFlight) were in flight")

        let shown = try await TestSupport.run(bin, ["campaign", "show", "--tenant", tenant, "--id", campaign], environment: environment, in: folder)
        #expect(shown.stdout.contains("2000/2000 done, 0 failed, finished"), "\(shown.stdout) \(shown.stderr)")
        await sim.stop()
    }
}
