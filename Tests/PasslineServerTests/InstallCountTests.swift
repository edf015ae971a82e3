import Foundation
import PasslineService
import PasslineTestSupport
import Testing

@Suite("Install and removal counts")
struct InstallCountTests {
    @Test("a device's registration is an install, its removal a removal, per template and wallet; over the API and in /metrics; other tenants see their own",
          arguments: TestDatabase.available)
    func counts(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind, wire: true)
        let a = server.service(server.tenantA), passType = "pass.dev.passline.tests"
        let auth = ["Authorization": "ApplePass \(server.tokenA)"], key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        func totals(_ headers: [String: String]) async throws -> [String: Int] {
            (try await server.send("GET", "/api/v1/installs", headers: headers).json?["totals"] as? [String: [String: Int]])?["apple"] ?? [:]
        }
        #expect(try await totals(key) == ["installs": 0, "removals": 0, "active": 0])
        for phone in ["phone-1", "phone-2"] {
            #expect(try await server.send("POST", "\(a)/devices/\(phone)/registrations/\(passType)/S1", body: #"{"pushToken":"0a01"}"#, headers: auth).status == 201)
        }
        // Registering again is no new install.
        #expect(try await server.send("POST", "\(a)/devices/phone-1/registrations/\(passType)/S1", body: #"{"pushToken":"0a01"}"#, headers: auth).status == 200)
        #expect(try await totals(key) == ["installs": 2, "removals": 0, "active": 1], "two devices, one card")
        #expect(try await server.send("DELETE", "\(a)/devices/phone-1/registrations/\(passType)/S1", headers: auth).status == 200)
        #expect(try await totals(key) == ["installs": 2, "removals": 1, "active": 1])
        #expect(try await server.send("DELETE", "\(a)/devices/phone-2/registrations/\(passType)/S1", headers: auth).status == 200)
        let reply = try await server.send("GET", "/api/v1/installs", headers: key)
        #expect((reply.json?["templates"] as? [[String: Any]])?.first?["template"] as? String == "tpl-\(server.tenantA.id)")
        #expect(try await totals(key) == ["installs": 2, "removals": 2, "active": 0])
        #expect(try await totals(["Authorization": "Bearer \(server.tenantB.liveKey)"]) == ["installs": 0, "removals": 0, "active": 0])
        let metrics = String(decoding: try await server.send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("passline_wallet_installs{tenant=\"\(server.tenantA.id)\",wallet=\"apple\"} 2"))
        #expect(metrics.contains("passline_wallet_removals{tenant=\"\(server.tenantA.id)\",wallet=\"apple\"} 2"))
        await server.stop()
    }
}
