import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PasslineCrypto

import PasslineTestSupport
import Testing

@Suite("LOG_FORMAT=json: one JSON object a line, a line a request with its id, tenant, route, status and duration")
struct LogFormatTests {
    @Test("serve writes JSON lines a log shipper can read, and a request's line names what an operator looks for; a bad LOG_FORMAT is named at start")
    func jsonLines() async throws {
        let folder = TestSupport.temporaryFolder()
        let bin = TestSupport.passlineExecutable
        let environment = ["PASSLINE_MASTER_KEY": Data(SecretBox.generateKey()).base64EncodedString(), "PASSLINE_DATABASE_URL": "sqlite:\(folder.path)/passline.sqlite",
                           "PASSLINE_LISTEN": "127.0.0.1:0", "LOG_FORMAT": "json"]
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.logs", "--team-id", "LOGSTEST01"], in: folder)
        let created = try await TestSupport.run(bin, ["tenant", "create", "--name", "Logs", "--pass-type-id", "pass.dev.logs", "--team-id", "LOGSTEST01",
                                                      "--identity", "id", "--json"], environment: environment, in: folder)
        let tenant = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])

        let bad = try await TestSupport.run(bin, ["serve"], environment: environment.merging(["LOG_FORMAT": "xml"]) { $1 }, in: folder)
        #expect(bad.status != 0 && bad.stderr.contains("LOG_FORMAT must be json or text, found \"xml\""), "\(bad.stderr)")

        let log = folder.appendingPathComponent("serve.log")
        let server = try CrashTests.serve(environment, log: log)
        var base: String?
        _ = try await CrashTests.waitUntil(seconds: 60) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            guard let range = text.range(of: #"listening on 127\.0\.0\.1:\d+"#, options: .regularExpression) else { return false }
            base = "http://127.0.0.1:" + text[range].dropFirst("listening on 127.0.0.1:".count)
            return true
        }
        let url = try #require(base, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        var request = URLRequest(url: URL(string: "\(url)/api/v1/templates")!)
        request.setValue("Bearer \(tenant["liveKey"]!)", forHTTPHeaderField: "Authorization")
        let (_, listed) = try await URLSession.shared.data(for: request)
        #expect((listed as? HTTPURLResponse)?.statusCode == 200)
        _ = try await URLSession.shared.data(from: URL(string: "\(url)/api/v1/cards/nope")!)
        server.terminate()
        await TestSupport.waitForExit(server)

        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.count > 3)
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "every line is one JSON object: \(line)")
            if let object { objects.append(object) }
        }
        #expect(objects.allSatisfy { $0["time"] is String && $0["level"] is String && $0["message"] is String && $0["label"] is String })
        let requests = objects.filter { $0["message"] as? String == "request" }
        let templates = try #require(requests.first { $0["route"] as? String == "GET /api/v1/templates" }, "\(requests)")
        #expect(templates["status"] as? Int == 200 && templates["tenant.id"] as? String == tenant["id"] && templates["duration_ms"] is Double)
        #expect((templates["hb.request.id"] as? String)?.isEmpty == false, "\(templates)")
        let refused = try #require(requests.first { $0["route"] as? String == "GET /api/v1/cards/{serial}" }, "\(requests)")
        #expect(refused["status"] as? Int == 401 && refused["tenant.id"] == nil, "no key, no tenant: \(refused)")
    }
}
