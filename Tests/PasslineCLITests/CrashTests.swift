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

// One at a time: each runs a 10,000-device campaign, and two at once on two cores stretch
// batches past what the bounds below allow for.
@Suite("Crashes lose nothing", .serialized)
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

    /// The base URL of a `serve` started with `PASSLINE_LISTEN=127.0.0.1:0`, read from the line
    /// it logs once it listens; nil when it never says so within a minute.
    static func baseURL(fromLog log: URL) async throws -> String? {
        var port: Int?
        _ = try await waitUntil(seconds: 60) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            guard let range = text.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression) else { return false }
            port = Int(text[range].split(separator: ":").last ?? "")
            return port != nil
        }
        return port.map { "http://127.0.0.1:\($0)" }
    }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    /// A tenant with 2,000 cards on 5 devices each, straight into the store, and the APNs
    /// stand-in that `serve` is pointed at.
    struct CampaignFixture {
        let folder: URL
        let environment: [String: String]
        let tenant: String
        let sim: APNsSimulator
        var log: URL { folder.appendingPathComponent("serve.log") }
        func serverLog() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        static func make(_ kind: TestDatabase, name: String) async throws -> CampaignFixture {
            let folder = TestSupport.temporaryFolder()
            let bin = TestSupport.passlineExecutable
            var environment = ["PASSLINE_MASTER_KEY": Data(SecretBox.generateKey()).base64EncodedString(), "LOG_LEVEL": ProcessInfo.processInfo.environment["PASSLINE_TEST_SERVE_LOG_LEVEL"] ?? "warning",
                               "PASSLINE_LISTEN": "127.0.0.1:0"]
            environment["PASSLINE_DATABASE_URL"] = kind == .postgres ? try await TestDatabase.freshSchema() : "sqlite:\(folder.path)/passline.sqlite"
            _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.\(name)", "--team-id", "CRASHTEAM1"], in: folder)
            let created = try await TestSupport.run(bin, ["tenant", "create", "--name", name, "--pass-type-id", "pass.dev.\(name)", "--team-id", "CRASHTEAM1",
                                                    "--identity", "id", "--json"], environment: environment, in: folder)
            #expect(created.status == 0, "\(created.stderr)")
            let tenant = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])?["id"])

            let database = try await DatabaseURL(parsing: environment["PASSLINE_DATABASE_URL"]!).open(maxConnections: 1)
            let writer = try ZipWriter()
            for (file, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(file, bytes) }
            let template = try await Templates(database: database).create(tenant: tenant, name: "loyalty", zip: try writer.finish()).id
            try await database.transaction { connection in
                for card in 0..<2_000 {
                    let serial = "S\(card)"
                    try CardRows.insert(.init(serialNumber: serial, templateID: template, memberID: "M\(card)", memberName: "Member \(card)",
                                                 authenticationToken: "token-\(card)-0123456789abcdef", publicToken: "public-\(card)", points: 10),
                                           tenant: tenant, now: 1, on: connection)
                    for device in 0..<5 {
                        _ = try Devices.register(tenant: tenant, device: "d\(card)-\(device)", pushToken: String(format: "%064x", card * 5 + device),
                                                 passType: "pass.dev.\(name)", serial: serial, now: 1, on: connection)
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
            return CampaignFixture(folder: folder, environment: environment, tenant: tenant, sim: sim)
        }

        /// Starts a reissue of every card. - Returns: the campaign's id.
        func startCampaign() async throws -> String {
            let started = try await TestSupport.run(TestSupport.passlineExecutable, ["campaign", "start", "--tenant", tenant, "--template", "loyalty"],
                                                    environment: environment, in: folder)
            #expect(started.status == 0 && started.stdout.contains("2000 cards"), "\(started.stdout) \(started.stderr)")
            return try #require(started.stdout.split(separator: " ").first { $0.hasPrefix("cmp_") }.map { String($0.dropLast()) })
        }

        func campaignSummary(_ campaign: String) async throws -> String {
            let shown = try await TestSupport.run(TestSupport.passlineExecutable, ["campaign", "show", "--tenant", tenant, "--id", campaign],
                                                  environment: environment, in: folder)
            return shown.stdout + shown.stderr
        }
    }

    @Test("a server killed with SIGKILL in the middle of a 10,000-device campaign, started again, gets every device its push", arguments: TestDatabase.available)
    func killedMidCampaign(kind: TestDatabase) async throws {
        let fixture = try await CampaignFixture.make(kind, name: "crash")
        let (environment, sim, log) = (fixture.environment, fixture.sim, fixture.log)
        func serverLog() -> String { fixture.serverLog() }
        var server = try Self.serve(environment, log: log)
        let campaign = try await fixture.startCampaign()

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

        let shown = try await fixture.campaignSummary(campaign)
        #expect(shown.contains("2000/2000 done, 0 failed, finished"), "\(shown)")
        await sim.stop()
    }

    @Test("SIGTERM in the middle of a campaign: serve exits 0 within seconds, settles what it sent, and the campaign finishes after a restart", arguments: TestDatabase.available)
    func terminatedMidCampaign(kind: TestDatabase) async throws {
        let fixture = try await CampaignFixture.make(kind, name: "sigterm")
        let (environment, sim, log) = (fixture.environment, fixture.sim, fixture.log)
        var server = try Self.serve(environment, log: log)
        let campaign = try await fixture.startCampaign()
        #expect(try await Self.waitUntil(seconds: 60) { sim.pushes().count >= 1_500 }, "the campaign's pushes did not start: \(fixture.serverLog())")
        #expect(server.isRunning, "\(fixture.serverLog())")
        let stopping = Date()
        kill(server.processIdentifier, SIGTERM)
        let exited = try await Self.waitUntil(seconds: 40) { !server.isRunning }
        #expect(exited, "serve still runs 40 s after SIGTERM: \(fixture.serverLog())")
        if !exited { server.terminate(); kill(server.processIdentifier, SIGKILL) }
        await TestSupport.waitForExit(server)
        let stopSeconds = Date().timeIntervalSince(stopping)
        #expect(server.terminationReason == .exit && server.terminationStatus == 0,
                "serve ended with \(server.terminationReason == .exit ? "status" : "signal") \(server.terminationStatus): \(fixture.serverLog())")
        // About 2 s on an idle machine (the batches on the wire finish and settle); the bound
        // leaves room for a loaded CI machine, and stays under the 25 s after which serve
        // would cut the shutdown short and re-send what was cut.
        #expect(stopSeconds < 20, "serve took \(stopSeconds) s to stop; its log: \(fixture.log.path)")
        let atStop = sim.pushes().count
        #expect(atStop < 10_000, "stopped in the middle, not after the end")
        // Nothing sent goes unrecorded: after the restart no device hears twice, and no push waits out a lease.
        server = try Self.serve(environment, log: log)
        let all = try await Self.waitUntil(seconds: 60) { Set(sim.pushes().map(\.token)).count == 10_000 }
        server.terminate()
        await TestSupport.waitForExit(server)
        let summary = try await fixture.campaignSummary(campaign)
        let pushes = sim.pushes()
        #expect(all, "\(10_000 - Set(pushes.map(\.token)).count) devices never got their push (\(atStop) pushes before SIGTERM): \(fixture.serverLog())")
        #expect(pushes.count == 10_000, "\(pushes.count) pushes for 10,000 devices: a batch in flight at SIGTERM was sent again")
        #expect(summary.contains("2000/2000 done, 0 failed, finished"), "\(summary)")
        await sim.stop()
    }
}
