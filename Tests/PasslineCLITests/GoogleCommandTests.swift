import Foundation
import GoogleWallet
import PasslineAPNsSim
import PasslineCrypto
import PasslineGoogleSim
import PasslineJSON
import PasslineTestSupport
import Testing

@Suite("passline tenant google set|check")
struct GoogleCommandTests {
    /// The Google stand-in, its CA written to `folder/google-ca.pem` for PASSLINE_GOOGLE_CA_FILE.
    static func standIn(trustedIn folder: URL) async throws -> GoogleWalletSimulator {
        let credentials = try StandInCredentials.generate(name: "Passline Google stand-in")
        TestSupport.write(credentials.authorityPEM, to: folder.appendingPathComponent("google-ca.pem"))
        return try await GoogleWalletSimulator.start(certificateChainPEM: credentials.certificateChainPEM, keyPEM: credentials.keyPEM)
    }

    @Test("certs google-dev writes a key file shaped like Google's, readable by its owner only")
    func devServiceAccount() async throws {
        let folder = TestSupport.temporaryFolder()
        let made = try await TestSupport.run(TestSupport.passlineExecutable, ["certs", "google-dev", "--out", "sa/key.json", "--email", "demo@local.iam.gserviceaccount.com"], in: folder)
        #expect(made.status == 0, "\(made.stderr)")
        let path = folder.appendingPathComponent("sa/key.json").path
        let account = try ServiceAccountKey(json: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(account.clientEmail == "demo@local.iam.gserviceaccount.com")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let bad = try await TestSupport.run(TestSupport.passlineExecutable, ["certs", "google-dev", "--out", "x.json", "--email", "nobody"], in: folder)
        #expect(bad.status == 64 && bad.stderr.contains("email"))
    }

    @Test("set stores the settings (a broken key file is named); check gets a token and lists classes, or explains the 403")
    func setAndCheck() async throws {
        let folder = TestSupport.temporaryFolder()
        let bin = TestSupport.passlineExecutable
        let sim = try await GoogleCommandTests.standIn(trustedIn: folder)
        let key = try PrivateKey.generateRSA()
        let email = "wallet@demo.iam.gserviceaccount.com"
        TestSupport.write(try ServiceAccountKey.file(email: email, key: key), to: folder.appendingPathComponent("account.json"))
        TestSupport.write(Array(#"{"type":"service_account","client_email":"wallet@demo"}"#.utf8), to: folder.appendingPathComponent("broken.json"))
        let environment = ["PASSLINE_MASTER_KEY": Data(SecretBox.generateKey()).base64EncodedString(),
                           "PASSLINE_DATABASE_URL": "sqlite:\(folder.path)/passline.sqlite",
                           "PASSLINE_GOOGLE_TOKEN_URL": sim.tokenURL, "PASSLINE_GOOGLE_API_URL": sim.apiURL,
                           "PASSLINE_GOOGLE_CA_FILE": folder.appendingPathComponent("google-ca.pem").path]
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.google", "--team-id", "GOOGLETEAM"], in: folder)
        let created = try await TestSupport.run(bin, ["tenant", "create", "--name", "Lumen", "--pass-type-id", "pass.dev.google", "--team-id", "GOOGLETEAM",
                                                "--identity", "id", "--json"], environment: environment, in: folder)
        let tenant = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])?["id"])
        let issuer = "3388000000012345678"

        let broken = try await TestSupport.run(bin, ["tenant", "google", "set", "--tenant", tenant, "--issuer-id", issuer, "--service-account", "broken.json"],
                                         environment: environment, in: folder)
        #expect(broken.status != 0 && broken.stderr.contains("private_key"), "\(broken.stderr)")
        let badIssuer = try await TestSupport.run(bin, ["tenant", "google", "set", "--tenant", tenant, "--issuer-id", "lumen", "--service-account", "account.json"],
                                            environment: environment, in: folder)
        #expect(badIssuer.status != 0 && badIssuer.stderr.contains("not a Google Wallet issuer id"), "\(badIssuer.stderr)")
        let unset = try await TestSupport.run(bin, ["tenant", "google", "check", "--tenant", tenant], environment: environment, in: folder)
        #expect(unset.status != 0 && unset.stderr.contains("passline tenant google set"), "\(unset.stderr)")

        let set = try await TestSupport.run(bin, ["tenant", "google", "set", "--tenant", tenant, "--issuer-id", issuer, "--service-account", "account.json",
                                            "--origin", "https://lumen.example"], environment: environment, in: folder)
        #expect(set.status == 0 && set.stdout.contains(issuer) && set.stdout.contains(email), "\(set.stdout) \(set.stderr)")
        let shown = try await TestSupport.run(bin, ["tenant", "show", "--tenant", tenant, "--json"], environment: environment, in: folder)
        let google = try #require((try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])?["google"] as? [String: Any])
        #expect(google["issuerId"] as? String == issuer && google["serviceAccountEmail"] as? String == email)
        #expect(google["origins"] as? [String] == ["https://lumen.example"] && !shown.stdout.contains("PRIVATE KEY"))

        // The account is not yet a user of the issuer: check explains the 403.
        try sim.addAccount(email: email, publicKeyPEM: try key.publicKeyPEM(), issuers: [])
        let denied = try await TestSupport.run(bin, ["tenant", "google", "check", "--tenant", tenant], environment: environment, in: folder)
        #expect(denied.status != 0 && denied.stderr.contains("403") && denied.stderr.contains("not a user of issuer \(issuer)"), "\(denied.stderr)")
        // A check does not pause anything; the text listing shows the issuer.
        let listed = try await TestSupport.run(bin, ["tenant", "show", "--tenant", tenant], environment: environment, in: folder)
        #expect(listed.stdout.contains("Google issuer \(issuer)") && !listed.stdout.contains("sync paused"), "\(listed.stdout)")

        sim.setPermission(email: email, issuer: issuer, allowed: true)
        let checked = try await TestSupport.run(bin, ["tenant", "google", "check", "--tenant", tenant], environment: environment, in: folder)
        #expect(checked.status == 0 && checked.stdout.contains("Google Wallet works") && checked.stdout.contains("0 loyalty classes"),
                "\(checked.stdout) \(checked.stderr)")
        await sim.stop()
    }
}

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PasslineZip

@Suite("passline serve syncs to Google")
struct ServeGoogleTests {
    @Test("passline serve, pointed at the stand-in by PASSLINE_GOOGLE_*, inserts a new card's object and patches it after a transaction")
    func serveSyncs() async throws {
        let folder = TestSupport.temporaryFolder()
        let bin = TestSupport.passlineExecutable
        let sim = try await GoogleCommandTests.standIn(trustedIn: folder)
        let key = try PrivateKey.generateRSA()
        let email = "serve@demo.iam.gserviceaccount.com", issuer = "3388000000087654321"
        try sim.addAccount(email: email, publicKeyPEM: try key.publicKeyPEM(), issuers: [issuer])
        TestSupport.write(try ServiceAccountKey.file(email: email, key: key), to: folder.appendingPathComponent("account.json"))
        let environment = ["PASSLINE_MASTER_KEY": Data(SecretBox.generateKey()).base64EncodedString(),
                           "PASSLINE_DATABASE_URL": "sqlite:\(folder.path)/passline.sqlite", "PASSLINE_LISTEN": "127.0.0.1:0",
                           "PASSLINE_PUBLIC_URL": "https://cards.example.com", "LOG_LEVEL": "info",
                           "PASSLINE_GOOGLE_TOKEN_URL": sim.tokenURL, "PASSLINE_GOOGLE_API_URL": sim.apiURL,
                           "PASSLINE_GOOGLE_CA_FILE": folder.appendingPathComponent("google-ca.pem").path]
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.serve", "--team-id", "SERVETEAM1"], in: folder)
        let created = try await TestSupport.run(bin, ["tenant", "create", "--name", "Lumen", "--pass-type-id", "pass.dev.serve", "--team-id", "SERVETEAM1",
                                                "--identity", "id", "--json"], environment: environment, in: folder)
        let tenant = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])
        let set = try await TestSupport.run(bin, ["tenant", "google", "set", "--tenant", tenant["id"]!, "--issuer-id", issuer, "--service-account", "account.json"],
                                      environment: environment, in: folder)
        #expect(set.status == 0, "\(set.stderr)")

        let log = folder.appendingPathComponent("serve.log")
        let server = try CrashTests.serve(environment, log: log)
        defer { server.terminate(); server.waitUntilExit() }
        let base = try #require(try await CrashTests.baseURL(fromLog: log))
        func send(_ method: String, _ path: String, _ body: Data, contentType: String = "application/json") async throws -> [String: Any] {
            var request = URLRequest(url: URL(string: base + path)!)
            request.httpMethod = method
            request.httpBody = body
            request.setValue("Bearer \(tenant["liveKey"]!)", forHTTPHeaderField: "Authorization")
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            let (data, _) = try await URLSession.shared.data(for: request)
            return (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        }
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        _ = try await send("POST", "/api/v1/templates?name=loyalty", Data(try writer.finish()), contentType: "application/zip")
        let card = try await send("POST", "/api/v1/cards", Data(#"{"template":"loyalty","memberId":"M-1","memberName":"Ada","points":40}"#.utf8))
        let serial = try #require(card["serialNumber"] as? String)
        let links = try #require(card["links"] as? [String: String])
        #expect(links["googleSave"] == links["page"].map { $0 + "/google" })
        let objectID = WalletIDs.objectID(issuer: issuer, serial: serial)
        #expect(try await CrashTests.waitUntil(seconds: 30) { sim.object(objectID)?["loyaltyPoints"]?["balance"]?["int"] == .int(40) },
                "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        _ = try await send("POST", "/api/v1/cards/\(serial)/transactions", Data(#"{"points":-15,"reason":"reward"}"#.utf8))
        #expect(try await CrashTests.waitUntil(seconds: 30) { sim.object(objectID)?["loyaltyPoints"]?["balance"]?["int"] == .int(25) })
        #expect(sim.object(objectID)?["notifyPreference"] == .string("notifyOnUpdate"))
        await sim.stop()
    }
}
