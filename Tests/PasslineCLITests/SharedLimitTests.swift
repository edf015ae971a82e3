import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PasslineCrypto
import PasslineTestSupport
import Testing

@Suite("Two serve processes on one PostgreSQL")
struct SharedLimitTests {
    @Test("share one rate limit: a key's burst is spent once across both, not once in each",
          .enabled(if: TestDatabase.available.contains(.postgres), "needs PASSLINE_TEST_POSTGRES"))
    func sharedRateLimit() async throws {
        let folder = TestSupport.temporaryFolder()
        let bin = TestSupport.passlineExecutable
        let environment = ["PASSLINE_MASTER_KEY": Data(SecretBox.generateKey()).base64EncodedString(),
                           "PASSLINE_DATABASE_URL": try await TestDatabase.freshSchema(), "PASSLINE_LISTEN": "127.0.0.1:0", "LOG_LEVEL": "info",
                           "PASSLINE_API_RATE_LIMIT": "1/50"]
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.limit", "--team-id", "LIMITTEAM1"], in: folder)
        let created = try await TestSupport.run(bin, ["tenant", "create", "--name", "Limit", "--pass-type-id", "pass.dev.limit", "--team-id", "LIMITTEAM1",
                                                "--identity", "id", "--json"], environment: environment, in: folder)
        let key = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])?["liveKey"])
        var bases: [String] = []
        var servers: [Process] = []
        defer { for server in servers { server.terminate(); server.waitUntilExit() } }
        for index in 0..<2 {
            let log = folder.appendingPathComponent("serve-\(index).log")
            servers.append(try CrashTests.serve(environment, log: log))
            bases.append(try #require(try await CrashTests.baseURL(fromLog: log)))
        }
        var allowed = 0, refused = 0
        let started = Date()
        for index in 0..<120 {
            var request = URLRequest(url: URL(string: bases[index % 2] + "/api/v1/tenant")!)
            request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
            let (_, response) = try await URLSession.shared.data(for: request)
            switch (response as? HTTPURLResponse)?.statusCode {
            case 200?: allowed += 1
            case 429?: refused += 1
            default: Issue.record("unexpected answer \(String(describing: response))")
            }
        }
        // 50 at once, then 1 a second while the requests go out (however slow the machine);
        // each process alone would allow 50 of its 60.
        let refilled = Int(Date().timeIntervalSince(started).rounded(.up))
        #expect(allowed >= 50 && allowed <= 50 + refilled + 1 && allowed + refused == 120, "allowed \(allowed), refused \(refused) in \(refilled) s")
    }
}
