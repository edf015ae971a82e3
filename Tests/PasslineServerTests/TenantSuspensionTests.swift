import Foundation
import PasslineService
import PasslineStore
import PasslineTestSupport
import PasslineZip
import Testing

@Suite("Suspending a tenant: its API refused naming why, its staff out, its pushes waiting; its customers' passes still served")
struct TenantSuspensionTests {
    static let token = "admin-token-0123456789abcdef"

    @Test("suspend and resume over the admin API", arguments: TestDatabase.available)
    func suspendAndResume(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind, adminToken: Self.token)
        let admin = ["Authorization": "Bearer \(Self.token)"]
        let tenant = server.tenantA.id
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        #expect(try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: Data(try writer.finish()), headers: key.merging(["Content-Type": "application/zip"]) { $1 }).status == 201)
        let created = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"S-1","memberName":"Sam","points":5}"#, headers: key)
        let serial = try #require(created.json?["serialNumber"] as? String)
        let page = String(try #require((created.json?["links"] as? [String: String])?["page"]).dropFirst("https://cards.example.com".count))
        let manager = WebVisitor(server)
        try await manager.accept(try await server.services.staff.invite(tenant: tenant, email: "m@example.com", role: .manager, by: .operator).link)
        #expect(try await manager.get("/app/desk").status == 200)
        try await server.database.transaction { connection in
            _ = try Devices.register(tenant: tenant, device: "phone-1", pushToken: String(repeating: "ab", count: 32), passType: "pass.dev.passline.tests",
                                     serial: serial, now: 1, on: connection)
        }

        // Bad requests change nothing.
        #expect(try await server.send("POST", "/admin/v1/tenants/\(tenant)/suspend", body: #"{}"#, headers: admin).status == 422)
        #expect(try await server.send("POST", "/admin/v1/tenants/\(tenant)/suspend", body: #"{"reason":"  "}"#, headers: admin).status == 422)
        #expect(try await server.send("POST", "/admin/v1/tenants/tn_nobody/suspend", body: #"{"reason":"x"}"#, headers: admin).status == 404)
        #expect(try await server.send("POST", "/admin/v1/tenants/\(tenant)/suspend", body: #"{"reason":"x"}"#).status == 401)
        #expect(try await server.services.tenants.suspension(tenant: tenant) == nil)

        let suspended = try await server.send("POST", "/admin/v1/tenants/\(tenant)/suspend", body: #"{"reason":"unpaid invoice"}"#, headers: admin)
        #expect(suspended.status == 200 && suspended.json?["suspended"] as? Bool == true)
        let shown = try await server.send("GET", "/admin/v1/tenants/\(tenant)", headers: admin)
        #expect((shown.json?["suspended"] as? [String: Any])?["reason"] as? String == "unpaid invoice", "\(String(decoding: shown.body, as: UTF8.self))")

        // The API says why, for every key of the tenant; another tenant goes on.
        let refused = try await server.send("GET", "/api/v1/cards/\(serial)", headers: key)
        #expect(refused.status == 403 && refused.json?["type"] as? String == "https://passline.dev/problems/tenant-suspended"
                && (refused.json?["detail"] as? String)?.contains("unpaid invoice") == true, "\(String(decoding: refused.body, as: UTF8.self))")
        #expect(try await server.send("GET", "/api/v1/templates", headers: ["Authorization": "Bearer \(server.tenantA.testKey)"]).status == 403)
        #expect(try await server.send("GET", "/api/v1/templates", headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 200)
        // Customers' passes are still served, and the page.
        #expect(try await server.send("GET", page).status == 200)
        #expect(try await server.send("GET", "\(page)/pass.pkpass").status == 200)
        // Staff: the open session ends; signing in says why.
        let desk = try await manager.get("/app/desk")
        #expect(desk.status == 303 && desk.location?.hasPrefix("/app/login") == true)
        let signIn = try await manager.signIn("m@example.com")
        #expect(signIn.status == 401 && signIn.html.contains("suspended") && signIn.html.contains("unpaid invoice"), "\(signIn.html.prefix(400))")
        // A change made meanwhile (an expiry, say) keeps its push waiting, not failing.
        _ = try await server.services.cards.transact(.init(serial: serial, points: 1, reason: "visit"), tenant: tenant, mode: .live,
                                                     jobs: server.services.jobs, render: { _ in [] })
        let claimer = JobQueue(database: server.database)
        #expect(try await claimer.claim(limit: 10, kinds: [PushJob.kind], skipPausedTenants: true).isEmpty, "the push waits while suspended")
        // So do its Google syncs and webhooks (another tenant's go on).
        try await server.database.transaction { connection in
            try JobQueue.enqueue([NewJob(kind: "google.sync", tenant: tenant, payload: "{}", coalesceKey: "g-a"),
                                  NewJob(kind: "google.sync", tenant: server.tenantB.id, payload: "{}", coalesceKey: "g-b")], now: 0, on: connection)
        }
        let waiting = try await claimer.claim(limit: 10, kinds: ["google.sync"], skipSuspendedTenants: true)
        #expect(waiting.map(\.tenant) == [server.tenantB.id], "\(waiting)")

        let resumed = try await server.send("POST", "/admin/v1/tenants/\(tenant)/resume", headers: admin)
        #expect(resumed.status == 200 && resumed.json?["suspended"] as? Bool == false)
        #expect(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).status == 200)
        #expect(try await manager.signIn("m@example.com").status == 303)
        #expect(try await claimer.claim(limit: 10, kinds: [PushJob.kind], skipPausedTenants: true).count == 1, "and goes once resumed")
        #expect(try await claimer.claim(limit: 10, kinds: ["google.sync"], skipSuspendedTenants: true).map(\.tenant) == [tenant])
        await server.stop()
    }
}
