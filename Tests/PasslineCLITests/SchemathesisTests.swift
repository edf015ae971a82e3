import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PasslineCrypto
import PasslineTestSupport
import PasslineZip
import Testing

/// schemathesis (PyPI) against `passline serve`: every operation of the OpenAPI document, with
/// generated valid and invalid input and a live key, must never get a 5xx and must answer as
/// the document says.
@Suite("The partner API under schemathesis")
struct SchemathesisTests {
    @Test("every documented operation: no server error, every answer as documented")
    func noServerErrors() async throws {
        let folder = TestSupport.temporaryFolder()
        let bin = TestSupport.passlineExecutable
        let environment = ["PASSLINE_MASTER_KEY": Data(SecretBox.generateKey()).base64EncodedString(),
                           "PASSLINE_DATABASE_URL": "sqlite:\(folder.path)/passline.sqlite", "PASSLINE_LISTEN": "127.0.0.1:0", "LOG_LEVEL": "info"]
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.fuzz", "--team-id", "FUZZTEAM01"], in: folder)
        let created = try await TestSupport.run(bin, ["tenant", "create", "--name", "Fuzz", "--pass-type-id", "pass.dev.fuzz", "--team-id", "FUZZTEAM01",
                                                "--identity", "id", "--json"], environment: environment, in: folder)
        let tenant = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])
        let key = try #require(tenant["liveKey"])

        let log = folder.appendingPathComponent("serve.log")
        let server = try CrashTests.serve(environment, log: log)
        defer { server.terminate(); server.waitUntilExit() }
        let base = try #require(try await CrashTests.baseURL(fromLog: log))

        // Something for the operations to find: a template and a card.
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        var upload = URLRequest(url: URL(string: base + "/api/v1/templates?name=loyalty")!)
        upload.httpMethod = "POST"
        upload.httpBody = Data(try writer.finish())
        upload.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        upload.setValue("application/zip", forHTTPHeaderField: "Content-Type")
        _ = try await URLSession.shared.data(for: upload)
        var card = URLRequest(url: URL(string: base + "/api/v1/cards")!)
        card.httpMethod = "POST"
        card.httpBody = Data(#"{"template":"loyalty","memberId":"M-1","memberName":"Ada","points":120}"#.utf8)
        card.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        let (cardBody, _) = try await URLSession.shared.data(for: card)
        let serial = try #require((try JSONSerialization.jsonObject(with: cardBody) as? [String: Any])?["serialNumber"] as? String)
        var download = URLRequest(url: URL(string: base + "/api/v1/cards/\(serial)/pass.pkpass")!)
        download.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        let (pass, _) = try await URLSession.shared.data(for: download)
        let passJSON = try JSONSerialization.jsonObject(with: Data(try ZipReader(bytes: [UInt8](pass)).read(named: "pass.json"))) as? [String: Any]
        let token = try #require(passJSON?["authenticationToken"] as? String)

        let seed = ProcessInfo.processInfo.environment["PASSLINE_FUZZ_SEED"] ?? String(UInt32.random(in: 1...UInt32.max))
        let checks = ["-c", "not_a_server_error,response_schema_conformance", "-n", "15", "--seed", seed, "--request-timeout", "30"]
        let partner = try await TestSupport.run("st", ["run", base + "/openapi.json", "-H", "Authorization: Bearer \(key)",
                                                       "--exclude-path-regex", "^/passkit"] + checks, in: folder)
        // Apple's web service, with the card's own token and the document's parameters given this
        // tenant's, pass type's and card's values as examples, so that generated calls reach past the 401.
        var document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(string: base + "/openapi.json")!)) as? [String: Any])
        var components = try #require(document["components"] as? [String: Any])
        var parameters = try #require(components["parameters"] as? [String: [String: Any]])
        for (name, value) in [("passkitTenant", try #require(tenant["id"])), ("passTypeIdentifier", "pass.dev.fuzz"),
                              ("serialNumber", serial), ("deviceLibraryIdentifier", "fuzz-device-1")] {
            parameters[name]?["example"] = value
        }
        components["parameters"] = parameters
        document["components"] = components
        let patched = folder.appendingPathComponent("openapi-passkit.json")
        try JSONSerialization.data(withJSONObject: document).write(to: patched)
        let apple = try await TestSupport.run("st", ["run", patched.path, "-u", base, "-H", "Authorization: ApplePass \(token)",
                                                     "--include-path-regex", "^/passkit"] + checks, in: folder)
        for (name, run) in [("partner API", partner), ("Apple's web service", apple)] {
            let output = run.stdout + run.stderr
            #expect(run.status == 0, "schemathesis on the \(name) (seed \(seed)) found problems:\n\(output.split(separator: "\n").suffix(80).joined(separator: "\n"))")
            #expect(output.contains(" passed"), "\(name): \(output.suffix(2000))")
        }
        let serverLog = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(!serverLog.contains("request failed"), "the server logged internal errors:\n\(serverLog.split(separator: "\n").filter { $0.contains("request failed") }.prefix(5).joined(separator: "\n"))")
    }
}
