import Foundation
import PasslineTestSupport
import Testing

/// Drives the `passline` executable the way a user and the outside tests do, through the
/// names INTERFACE.md fixes.
@Suite("passline command line")
struct CommandLineTests {
    let bin = TestSupport.passlineExecutable

    func passline(_ arguments: String..., environment: [String: String] = [:], in folder: URL) async throws -> TestSupport.ProcessResult {
        try await TestSupport.run(bin, arguments, environment: environment, in: folder)
    }

    /// A folder with a dev identity (`id/`) and a card (`card.json`).
    func workspace(card: String = #"{"serialNumber":"LUM-1","memberId":"M-1","memberName":"Zoë \"Z\" 🌸","points":42}"#) async throws -> URL {
        let folder = TestSupport.temporaryFolder()
        let made = try await passline("certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.passline.cli", "--team-id", "CLITEAM001", in: folder)
        #expect(made.status == 0, "\(made.stderr)")
        TestSupport.write(Array(card.utf8), to: folder.appendingPathComponent("card.json"))
        return folder
    }

    @Test("certs dev writes Apple's chain shape, with the key private and a loud warning")
    func certsDev() async throws {
        let folder = try await workspace()
        for file in ["root.pem", "wwdr.pem", "certificate.pem", "private-key.pem"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("id/\(file)").path), "\(file)")
        }
        let mode = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("id/private-key.pem").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let subject = try await TestSupport.run("openssl", ["x509", "-in", "id/certificate.pem", "-noout", "-subject", "-nameopt", "RFC2253"], in: folder)
        #expect(subject.stdout.contains("UID=pass.dev.passline.cli"))
        #expect(subject.stdout.contains("OU=CLITEAM001"))
        #expect(subject.stdout.contains("CN=Pass Type ID: pass.dev.passline.cli"))
        let chain = try await TestSupport.run("openssl", ["verify", "-CAfile", "id/root.pem", "-untrusted", "id/wwdr.pem", "id/certificate.pem"], in: folder)
        #expect(chain.status == 0, "\(chain.stdout)\(chain.stderr)")
        let again = try await passline("certs", "dev", "--out", "id2", "--pass-type-id", "pass.x", "--team-id", "T", in: folder)
        #expect(again.stderr.contains("do not install on real devices"))
    }

    @Test("pass build then pass verify --ca: exit 0, and the pass is what INTERFACE.md's data keys say")
    func buildAndVerify() async throws {
        let folder = try await workspace()
        let template = TestSupport.template("loyalty").path
        let built = try await passline("pass", "build", "--template", template, "--data", "card.json", "--identity", "id", "--out", "card.pkpass", in: folder)
        #expect(built.status == 0, "\(built.stderr)")
        let verified = try await passline("pass", "verify", "card.pkpass", "--ca", "id/root.pem", in: folder)
        #expect(verified.status == 0, "\(verified.stdout)")
        #expect(verified.stdout.contains("valid (0 warnings)"))
        // The intermediate alone is enough (as with Apple's WWDR G4).
        await #expect(try passline("pass", "verify", "card.pkpass", "--ca", "id/wwdr.pem", in: folder).status == 0)
        let listing = try await TestSupport.run("unzip", ["-l", "card.pkpass"], in: folder)
        for file in ["pass.json", "manifest.json", "signature", "icon.png", "de.lproj/pass.strings"] {
            #expect(listing.stdout.contains(file), "\(file)")
        }
    }

    @Test("pass verify lists findings and exits 1 on a damaged pass")
    func verifyDamaged() async throws {
        let folder = try await workspace()
        TestSupport.write(Array("not a zip".utf8), to: folder.appendingPathComponent("bad.pkpass"))
        let result = try await passline("pass", "verify", "bad.pkpass", in: folder)
        #expect(result.status == 1)
        #expect(result.stdout.contains("error: pass: The data is not a zip archive"))
        #expect(result.stdout.contains("NOT valid"))
    }

    @Test("a pass signed by another chain fails verification against this root")
    func verifyOtherRoot() async throws {
        let folder = try await workspace()
        _ = try await passline("certs", "dev", "--out", "other", "--pass-type-id", "pass.dev.other", "--team-id", "OTHER00001", in: folder)
        _ = try await passline("pass", "build", "--template", TestSupport.template("membership").path, "--data", "card.json", "--identity", "id", "--out", "m.pkpass", in: folder)
        let result = try await passline("pass", "verify", "m.pkpass", "--ca", "other/root.pem", in: folder)
        #expect(result.status == 1)
        #expect(result.stdout.contains("does not chain"))
    }

    @Test("a missing value names the key and the data file; exit 1")
    func missingValue() async throws {
        let folder = try await workspace(card: #"{"serialNumber":"S","memberId":"M","points":1}"#)
        let result = try await passline("pass", "build", "--template", TestSupport.template("loyalty").path, "--data", "card.json", "--identity", "id", "--out", "x.pkpass", in: folder)
        #expect(result.status == 1)
        #expect(result.stderr.contains("card.json"))
        #expect(result.stderr.contains("memberName is required"))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("x.pkpass").path))
    }

    @Test("malformed card JSON names the file and the line")
    func malformedData() async throws {
        let folder = try await workspace(card: "{\n\"serialNumber\": \"S\",\n}")
        let result = try await passline("pass", "build", "--template", TestSupport.template("loyalty").path, "--data", "card.json", "--identity", "id", "--out", "x.pkpass", in: folder)
        #expect(result.status == 1)
        #expect(result.stderr.contains("card.json is not valid JSON: line 3"))
    }

    @Test("usage errors exit 64", arguments: [
        ["pass", "build", "--template", "t", "--identity", "id", "--out", "x"],
        ["pass", "build", "--template", "t", "--data", "d", "--out", "x"],
        ["pass", "build", "--template", "t", "--data", "d", "--out", "x", "--p12", "a.p12"],
        ["certs", "dev", "--out", "d", "--pass-type-id", "com.example", "--team-id", "T"],
        ["bench", "build", "--count", "0"],
        ["no-such-command"],
    ])
    func usage(arguments: [String]) async throws {
        let result = try await TestSupport.run(bin, arguments, in: TestSupport.temporaryFolder())
        #expect(result.status == 64, "\(result.stderr)")
        #expect(!result.stderr.isEmpty)
    }

    @Test("serve checks every setting before it starts, names each one at fault, and opens nothing")
    func serveConfiguration() async throws {
        let folder = TestSupport.temporaryFolder()
        let result = try await TestSupport.run(bin, ["serve"], environment: [
            "PASSLINE_DATABASE_URL": "sqlite:\(folder.path)/never.sqlite", "PASSLINE_APNS_URL": "http://apns.example.com",
            "LOG_LEVEL": "loud", "PASSLINE_GOOGLE_REQUESTS_PER_SECOND": "-1", "PASSLINE_PUBLIC_URL": "http://cards.example.com",
        ], in: folder)
        #expect(result.status == 64, "\(result.stderr)")
        for setting in ["PASSLINE_APNS_URL", "LOG_LEVEL", "PASSLINE_GOOGLE_REQUESTS_PER_SECOND", "PASSLINE_PUBLIC_URL"] {
            #expect(result.stderr.contains(setting), "\(setting) is not named: \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("never.sqlite").path), "the store was opened")
    }

    @Test("the wrong key for the certificate is named")
    func wrongKey() async throws {
        let folder = try await workspace()
        _ = try await passline("certs", "dev", "--out", "other", "--pass-type-id", "pass.dev.other", "--team-id", "OTHER00001", in: folder)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("id/private-key.pem"))
        try FileManager.default.copyItem(at: folder.appendingPathComponent("other/private-key.pem"), to: folder.appendingPathComponent("id/private-key.pem"))
        let result = try await passline("pass", "build", "--template", TestSupport.template("loyalty").path, "--data", "card.json", "--identity", "id", "--out", "x.pkpass", in: folder)
        #expect(result.status == 1)
        #expect(result.stderr.contains("private-key.pem is not the private key of"))
    }

    @Test("--p12 with --password-env and --wwdr builds; a wrong password is named")
    func p12() async throws {
        let folder = try await workspace()
        let export = try await TestSupport.run("openssl", ["pkcs12", "-export", "-in", "id/certificate.pem", "-inkey", "id/private-key.pem", "-passout", "pass:hunter2", "-out", "id.p12"], in: folder)
        #expect(export.status == 0)
        let template = TestSupport.template("loyalty").path
        let good = try await passline("pass", "build", "--template", template, "--data", "card.json", "--p12", "id.p12", "--password-env", "P12_PASSWORD",
                                "--wwdr", "id/wwdr.pem", "--out", "p.pkpass", environment: ["P12_PASSWORD": "hunter2"], in: folder)
        #expect(good.status == 0, "\(good.stderr)")
        await #expect(try passline("pass", "verify", "p.pkpass", "--ca", "id/root.pem", in: folder).status == 0)
        let bad = try await passline("pass", "build", "--template", template, "--data", "card.json", "--p12", "id.p12", "--password-env", "P12_PASSWORD",
                               "--wwdr", "id/wwdr.pem", "--out", "q.pkpass", environment: ["P12_PASSWORD": "wrong"], in: folder)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("password does not open"))
    }

    @Test("an encrypted private key opens with --key-password-env")
    func encryptedKey() async throws {
        let folder = try await workspace()
        let encrypt = try await TestSupport.run("openssl", ["pkey", "-in", "id/private-key.pem", "-aes256", "-passout", "pass:k3y", "-out", "id/enc.pem"], in: folder)
        #expect(encrypt.status == 0)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("id/private-key.pem"))
        try FileManager.default.moveItem(at: folder.appendingPathComponent("id/enc.pem"), to: folder.appendingPathComponent("id/private-key.pem"))
        let template = TestSupport.template("loyalty").path
        let withoutPassphrase = try await passline("pass", "build", "--template", template, "--data", "card.json", "--identity", "id", "--out", "a.pkpass", in: folder)
        #expect(withoutPassphrase.status == 1)
        #expect(withoutPassphrase.stderr.contains("encrypted and no passphrase"))
        let result = try await passline("pass", "build", "--template", template, "--data", "card.json", "--identity", "id", "--key-password-env", "KEY_PASS",
                                  "--out", "b.pkpass", environment: ["KEY_PASS": "k3y"], in: folder)
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test("a broken template lists every fault with its file and field")
    func brokenTemplate() async throws {
        let folder = try await workspace()
        let template = folder.appendingPathComponent("broken.pass")
        try FileManager.default.copyItem(at: TestSupport.template("loyalty"), to: template)
        try FileManager.default.removeItem(at: template.appendingPathComponent("icon.png"))
        TestSupport.write(Array(#"{"formatVersion": 1, "description": "x", "organizationName": "y", "storeCard": {}, "backgroundColor": "red"}"#.utf8), to: template.appendingPathComponent("pass.json"))
        let result = try await passline("pass", "build", "--template", "broken.pass", "--data", "card.json", "--identity", "id", "--out", "x.pkpass", in: folder)
        #expect(result.status == 1)
        #expect(result.stderr.contains("icon.png: is missing"))
        #expect(result.stderr.contains("pass.json: backgroundColor"))
    }

    @Test("bench build --json ends with the fields INTERFACE.md names")
    func benchJSON() async throws {
        let folder = TestSupport.temporaryFolder()
        // No --template: INTERFACE.md's form, run outside the repository, finds the shipped template.
        let result = try await passline("bench", "build", "--count", "20", "--json", in: folder)
        #expect(result.status == 0, "\(result.stderr)")
        let last = try #require(result.stdout.split(separator: "\n").last)
        let json = try JSONSerialization.jsonObject(with: Data(last.utf8)) as! [String: Any]
        for key in ["passes", "seconds", "passesPerSecond", "signaturesPerSecond", "ratio"] { #expect(json[key] != nil, "\(key)") }
        #expect(json["passes"] as? Int == 20)
        let ratio = try #require(json["ratio"] as? Double)
        let pps = try #require(json["passesPerSecond"] as? Double), sps = try #require(json["signaturesPerSecond"] as? Double)
        #expect(abs(ratio - pps / sps) < 1e-9)
    }

    @Test("bench expiry runs end to end: a day's reminders and expiries each reach one lot in a hundred, on distinct cards")
    func benchExpiry() async throws {
        let result = try await passline("bench", "expiry", "--cards", "500", "--lots-per-card", "4", "--json", in: TestSupport.temporaryFolder())
        #expect(result.status == 0, "\(result.stderr)")
        let last = try #require(result.stdout.split(separator: "\n").last)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect(json["lots"] as? Int == 2_000 && json["reminded"] as? Int == 21 && json["expired"] as? Int == 21, "\(json)")
        #expect((json["commitsPerSecond"] as? Double ?? 0) > 0)
    }

    @Test("bench push and bench push-latency run end to end and print their JSON")
    func pushBenchmarks() async throws {
        let folder = TestSupport.temporaryFolder()
        let push = try await passline("bench", "push", "--devices", "300", "--json", in: folder)
        #expect(push.status == 0, "\(push.stderr)")
        let pushed = try JSONSerialization.jsonObject(with: Data(try #require(push.stdout.split(separator: "\n").last).utf8)) as! [String: Any]
        #expect(pushed["devices"] as? Int == 300 && (pushed["pushesPerSecond"] as? Double ?? 0) > 0)
        #expect(Set(pushed.keys).isSuperset(of: ["devices", "seconds", "pushesPerSecond", "ratio"]), "the keys INTERFACE.md names: \(pushed.keys)")
        // Without h2load (nghttp2-client) there is no ceiling; with it, the ceiling is the mean of
        // the runs around the fan-out, and the ratio is against that.
        if let ceiling = pushed["h2loadPerSecond"] as? Double, let before = pushed["h2loadBeforePerSecond"] as? Double,
           let after = pushed["h2loadAfterPerSecond"] as? Double, let ratio = pushed["ratio"] as? Double {
            #expect(abs(ceiling - (before + after) / 2) < 0.01)
            #expect(abs(ratio - (pushed["pushesPerSecond"] as! Double) / ceiling) < 1e-9)
        }

        let latency = try await passline("bench", "push-latency", "--changes", "5", "--campaign-devices", "400", "--json", in: folder)
        #expect(latency.status == 0, "\(latency.stderr)")
        let measured = try JSONSerialization.jsonObject(with: Data(try #require(latency.stdout.split(separator: "\n").last).utf8)) as! [String: Any]
        let idle = try #require(measured["idle"] as? [String: Double]), during = try #require(measured["duringCampaign"] as? [String: Double])
        #expect(idle["p50"]! > 0 && idle["p50"]! <= idle["p99"]! && during["p50"]! <= during["p99"]!)
        #expect(measured["changes"] as? Int == 5 && measured["campaignDevices"] as? Int == 400)
    }
}

@Suite("passline qr")
struct QRCommandTests {
    @Test("writes PNG and SVG that zbarimg reads; over capacity exits non-zero naming the limit")
    func qr() async throws {
        let folder = TestSupport.temporaryFolder()
        let bin = TestSupport.passlineExecutable
        let png = try await TestSupport.run(bin, ["qr", "https://passline.example/c/abc", "--format", "png", "--scale", "6", "--level", "Q", "--out", "c.png"], in: folder)
        #expect(png.status == 0, "\(png.stderr)")
        #expect(try await TestSupport.run("zbarimg", ["--quiet", "--raw", "c.png"], in: folder).stdout == "https://passline.example/c/abc\n")
        let svg = try await TestSupport.run(bin, ["qr", "M-1", "--format", "svg", "--out", "c.svg"], in: folder)
        #expect(svg.status == 0)
        #expect(try String(contentsOf: folder.appendingPathComponent("c.svg"), encoding: .utf8).hasPrefix("<svg"))
        let tooLong = try await TestSupport.run(bin, ["qr", String(repeating: "x", count: 1300), "--format", "png", "--level", "H", "--out", "x.png"], in: folder)
        #expect(tooLong.status == 1)
        #expect(tooLong.stderr.contains("at most 1273"))
        #expect(try await TestSupport.run(bin, ["qr", "x", "--format", "gif", "--out", "x.gif"], in: folder).status == 64)
    }
}
