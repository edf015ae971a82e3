import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PasslineAPNsSim
import PasslineCrypto
import PasslineDatabase
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import PasslineZip
import Testing

/// The web app in a real browser: Debian's Chromium driven over WebDriver (chromedriver and
/// Selenium from PyPI, which `scripts/test` installs), against `passline serve` as a user runs
/// it, with the APNs stand-in receiving the pushes.
@Suite("The staff web app in Chromium")
struct BrowserTests {
    /// A served tenant with the loyalty template, a program (10% of cash), one card (member
    /// M-1, 40 points) on one device, and the APNs stand-in.
    struct Stage {
        let folder: URL
        let environment: [String: String]
        let tenant: String
        let key: String
        let serial: String
        let sim: APNsSimulator
        let server: Process
        let base: String
        var log: URL { folder.appendingPathComponent("serve.log") }

        static func start() async throws -> Stage {
            let folder = TestSupport.temporaryFolder()
            let bin = TestSupport.passlineExecutable
            var environment = ["PASSLINE_MASTER_KEY": Data(SecretBox.generateKey()).base64EncodedString(), "LOG_LEVEL": "info",
                               "PASSLINE_DATABASE_URL": "sqlite:\(folder.path)/passline.sqlite", "PASSLINE_LISTEN": "127.0.0.1:0"]
            _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.browser", "--team-id", "BROWSERT01"], in: folder)
            let created = try await TestSupport.run(bin, ["tenant", "create", "--name", "Lumen Clinic", "--pass-type-id", "pass.dev.browser", "--team-id", "BROWSERT01",
                                                          "--identity", "id", "--json"], environment: environment, in: folder)
            let tenant = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])
            let credentials = try StandInCredentials.generate()
            let caFile = folder.appendingPathComponent("apns-ca.pem")
            TestSupport.write(credentials.authorityPEM, to: caFile)
            let root = try Data(contentsOf: folder.appendingPathComponent("id/root.pem"))
            let sim = try await APNsSimulator.start(.init(certificateChainPEM: credentials.certificateChainPEM, keyPEM: credentials.keyPEM, clientCAPEM: Array(root)))
            environment["PASSLINE_APNS_URL"] = "https://127.0.0.1:\(sim.port)"
            environment["PASSLINE_APNS_CA_FILE"] = caFile.path

            let log = folder.appendingPathComponent("serve.log")
            let server = try CrashTests.serve(environment, log: log)
            let base = try #require(try await CrashTests.baseURL(fromLog: log), "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            let key = tenant["liveKey"]!
            func send(_ method: String, _ path: String, _ body: Data, type: String = "application/json") async throws -> [String: Any] {
                var request = URLRequest(url: URL(string: base + path)!)
                request.httpMethod = method
                request.httpBody = body
                request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
                request.setValue(type, forHTTPHeaderField: "Content-Type")
                let (data, _) = try await URLSession.shared.data(for: request)
                return (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
            }
            let writer = try ZipWriter()
            for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
            _ = try await send("POST", "/api/v1/templates?name=loyalty", Data(try writer.finish()), type: "application/zip")
            _ = try await send("PUT", "/api/v1/program", Data(#"{"currency":"EUR","earnRules":[{"paymentMethods":["cash","card"],"percent":10}],"effectiveAt":"2000-01-01T00:00:00Z"}"#.utf8))
            let card = try await send("POST", "/api/v1/cards", Data(#"{"template":"loyalty","memberId":"M-1","memberName":"Zoë Ortiz","points":40,"fields":{"tier":"Gold"}}"#.utf8))
            let serial = try #require(card["serialNumber"] as? String, "\(card)")
            // The card on one iPhone, registered as Wallet registers it.
            let database = try await DatabaseURL(parsing: environment["PASSLINE_DATABASE_URL"]!).open(maxConnections: 1)
            try await database.transaction { connection in
                _ = try Devices.register(tenant: tenant["id"]!, device: "iphone-1", pushToken: String(repeating: "ab", count: 32), passType: "pass.dev.browser",
                                         serial: serial, now: 1, on: connection)
            }
            await database.close()
            environment["PASSLINE_PUBLIC_URL"] = base
            return Stage(folder: folder, environment: environment, tenant: tenant["id"]!, key: key, serial: serial, sim: sim, server: server, base: base)
        }

        func invite(_ email: String, role: String) async throws -> String {
            let invited = try await TestSupport.run(TestSupport.passlineExecutable, ["tenant", "invite", "--tenant", tenant, "--email", email, "--role", role],
                                                    environment: environment, in: folder)
            #expect(invited.status == 0, "\(invited.stderr)")
            return invited.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// Runs one of the Selenium scripts under Tests/browser; returns what it printed.
        func browse(_ script: String, _ arguments: [String]) async throws -> [String: Any] {
            let path = TestSupport.repositoryRoot.appendingPathComponent("Tests/browser/\(script)").path
            let run = try await TestSupport.run("python3", [path] + arguments, in: folder)
            #expect(run.status == 0, "\(script): \(run.stderr.suffix(3000))\n\(serverLog().suffix(2000))")
            return (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]) ?? [:]
        }

        func serverLog() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// Where screenshots go: docs/ when PASSLINE_UPDATE_SCREENSHOTS is set (README shows them), else a temporary folder.
        var shots: String {
            ProcessInfo.processInfo.environment["PASSLINE_UPDATE_SCREENSHOTS"] != nil ? TestSupport.repositoryRoot.appendingPathComponent("docs").path : folder.path
        }

        func stop() async {
            server.terminate()
            await TestSupport.waitForExit(server)
            await sim.stop()
        }
    }

    @Test("the front desk: an invited account, a keyboard-wedge scan, a cash purchase confirmed after its points; the ledger, the balance and the push to the iPhone")
    func frontDesk() async throws {
        let stage = try await Stage.start()
        let link = try await stage.invite("desk@lumen.example", role: "frontdesk")
        let pushesBefore = stage.sim.pushes().count
        let seen = try await stage.browse("frontdesk.py", ["--invite", link, "--member", "M-1", "--amount", "123.45", "--shots", stage.shots])
        #expect(seen["focused"] as? String == "code", "the scan field has the focus, for the scanner to type into")
        #expect(seen["balance_before"] as? String == "40" && seen["preview"] as? String == "12" && seen["balance_after"] as? String == "52", "\(seen)")
        #expect((seen["flash"] as? String)?.contains("+12 points") == true)
        #expect((seen["phone_overflow"] as? Int ?? 1) <= 0, "nothing wider than a phone's screen: \(seen["widest"] ?? "")")
        #expect((seen["desk_seconds"] as? Double ?? 99) < 15, "scan to confirmation, in the browser: \(seen)")
        let audits = try #require(seen["accessibility"] as? [String: [String]])
        #expect(Set(audits.keys) == ["invite", "desk", "member"] && (seen["axe_passes"] as? Int ?? 0) > 30, "\(seen)")
        for (page, violations) in audits { #expect(violations.isEmpty, "axe-core on the \(page) page: \(violations)") }

        // The ledger names the person; the iPhone got its push through the stand-in.
        var request = URLRequest(url: URL(string: "\(stage.base)/api/v1/cards/\(stage.serial)/transactions")!)
        request.setValue("Bearer \(stage.key)", forHTTPHeaderField: "Authorization")
        let (data, _) = try await URLSession.shared.data(for: request)
        let ledger = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let entries = try #require(ledger["transactions"] as? [[String: Any]], "\(ledger)")
        #expect(entries.first?["points"] as? Int == 12 && entries.first?["balanceAfter"] as? Int == 52, "\(entries)")
        #expect(try await CrashTests.waitUntil(seconds: 30) { stage.sim.pushes().count > pushesBefore && stage.sim.pushes().contains { $0.token == String(repeating: "ab", count: 32) } },
                "\(stage.serverLog().suffix(2000))")
        await stage.stop()
    }

    @Test("the front desk's camera: Chromium's fake camera shows the card's QR code; the server reads it and the member's page opens")
    func cameraScan() async throws {
        let stage = try await Stage.start()
        let link = try await stage.invite("camera@lumen.example", role: "frontdesk")
        let video = stage.folder.appendingPathComponent("card-qr.y4m")
        TestSupport.write(try CameraFrames.y4m("M-1"), to: video)
        let seen = try await stage.browse("camera.py", ["--invite", link, "--video", video.path])
        #expect(seen["name"] as? String == "Zoë Ortiz" && seen["balance"] as? String == "40", "\(seen)")
        await stage.stop()
    }

    @Test("the manager: a new earning rate, a message to the members with at least 30 points followed until sent (the iPhone gets its push), the reports")
    func manager() async throws {
        let stage = try await Stage.start()
        let link = try await stage.invite("manager@lumen.example", role: "manager")
        // A week's visits, for the reports to draw.
        for (points, reason) in [(30, "visit"), (25, "visit"), (-20, "reward")] {
            var request = URLRequest(url: URL(string: "\(stage.base)/api/v1/cards/\(stage.serial)/transactions")!)
            request.httpMethod = "POST"
            request.httpBody = Data(#"{"points":\#(points),"reason":"\#(reason)"}"#.utf8)
            request.setValue("Bearer \(stage.key)", forHTTPHeaderField: "Authorization")
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            _ = try await URLSession.shared.data(for: request)
        }
        let pushesBefore = stage.sim.pushes().count
        let logo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../PassTemplates/loyalty.pass/logo.png").standardized.path
        let seen = try await stage.browse("manager.py", ["--invite", link, "--shots", stage.shots, "--logo", logo])
        #expect(seen["percent"] as? String == "25" && seen["done"] as? String == "1" && seen["total"] as? String == "1", "\(seen)")
        #expect(seen["charts"] as? Int == 4 && (seen["phone_overflow"] as? Int ?? 1) <= 0, "\(seen)")
        let audits = try #require(seen["accessibility"] as? [String: [String]])
        #expect(Set(audits.keys) == ["program", "design", "program-stages", "messages", "campaign", "reports"])
        #expect(seen["bar"] as? String == "rgb(122, 31, 92)" && seen["logo_loaded"] as? Bool == true, "the business's colours and logo head the app: \(seen)")
        let stages = try #require(seen["stages"] as? [String])
        #expect(stages.count == 3 && stages[2].contains("Last call: 250 points go on") && stages[1].contains("250 points expire on") && !stages[0].contains("250 points"),
                "the card at calm, 28 and 7 days, with the business's words: \(stages)")
        for (page, violations) in audits { #expect(violations.isEmpty, "axe-core on the \(page) page: \(violations)") }

        var request = URLRequest(url: URL(string: "\(stage.base)/api/v1/program")!)
        request.setValue("Bearer \(stage.key)", forHTTPHeaderField: "Authorization")
        let (data, _) = try await URLSession.shared.data(for: request)
        let program = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(((program["earnRules"] as? [[String: Any]])?.first?["percent"] as? Int) == 25 && program["changedBy"] as? String == "staff:manager@lumen.example",
                "\(program)")
        #expect(try await CrashTests.waitUntil(seconds: 30) { stage.sim.pushes().count > pushesBefore }, "the message's push reached the iPhone")
        await stage.stop()
    }
}
