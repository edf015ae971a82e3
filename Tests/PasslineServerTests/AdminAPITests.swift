import ApplePass
import Foundation
import PasslineCrypto
import PasslineTestSupport
import Testing

@Suite("The admin API and signing-identity replacement, over HTTP")
struct AdminAPITests {
    static let token = "admin-token-0123456789abcdef"
    var admin: [String: String] { ["Authorization": "Bearer \(Self.token)"] }

    static func identityJSON(_ identity: DevelopmentIdentity) throws -> [String: String] {
        ["certificate": String(decoding: identity.certificate.pemBytes, as: UTF8.self),
         "privateKey": String(decoding: try identity.key.pemBytes(), as: UTF8.self),
         "intermediates": String(decoding: identity.intermediate.pemBytes, as: UTF8.self)]
    }

    static func body(_ object: Any) throws -> Data { try JSONSerialization.data(withJSONObject: object) }

    @Test("off without PASSLINE_ADMIN_TOKEN (404), closed to a wrong token (401)")
    func guarded() async throws {
        let off = try await LiveServer.start(.sqlite)
        let answer = try await off.send("GET", "/admin/v1/tenants", headers: ["Authorization": "Bearer anything-at-all-123456"])
        #expect(answer.status == 404 && String(decoding: answer.body, as: UTF8.self).contains("PASSLINE_ADMIN_TOKEN"))
        await off.stop()

        let on = try await LiveServer.start(.sqlite, adminToken: Self.token)
        for headers in [[:], ["Authorization": "Bearer admin-token-0123456789abcdeX"], ["Authorization": "Bearer \(on.tenantA.liveKey)"]] {
            #expect(try await on.send("GET", "/admin/v1/tenants", headers: headers).status == 401)
            #expect(try await on.send("POST", "/admin/v1/tenants", body: "{}", headers: headers).status == 401)
        }
        #expect(try await on.send("GET", "/admin/v1/tenants", headers: admin).status == 200)
        await on.stop()
    }

    @Test("create a tenant, list it with days to expiry, make and revoke keys", arguments: TestDatabase.available)
    func tenants(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind, adminToken: Self.token)
        let identity = TestSupport.otherIdentity
        let created = try await server.send("POST", "/admin/v1/tenants", bodyData: try Self.body(["name": "Café Olé", "identity": try Self.identityJSON(identity)]), headers: admin)
        #expect(created.status == 201, "\(String(decoding: created.body, as: UTF8.self))")
        let tenant = try #require(created.json)
        let id = try #require(tenant["id"] as? String), liveKey = try #require(tenant["liveKey"] as? String)
        #expect(tenant["passTypeIdentifier"] as? String == "pass.dev.passline.other" && (tenant["testKey"] as? String)?.hasPrefix("pl_test_") == true)

        // The new key works on the partner API and shows the tenant's certificate.
        let own = try await server.send("GET", "/api/v1/tenant", headers: ["Authorization": "Bearer \(liveKey)"])
        #expect(own.status == 200 && own.json?["id"] as? String == id)
        let certificate = try #require(own.json?["certificate"] as? [String: Any])
        #expect((363...365).contains(certificate["daysToExpiry"] as? Int ?? 0))
        #expect(certificate["fingerprintSHA256"] as? String == identity.certificate.fingerprintSHA256)
        #expect((own.json?["pushes"] as? [String: Any])?["paused"] as? Bool == false)

        let list = try #require(try await server.send("GET", "/admin/v1/tenants", headers: admin).json?["tenants"] as? [[String: Any]])
        #expect(list.map { $0["id"] as? String } == [server.tenantA.id, server.tenantB.id, id])
        #expect(try await server.send("GET", "/admin/v1/tenants/\(id)", headers: admin).json?["name"] as? String == "Café Olé")
        #expect(try await server.send("GET", "/admin/v1/tenants/tn_nope", headers: admin).status == 404)

        let key = try await server.send("POST", "/admin/v1/tenants/\(id)/keys", body: #"{"mode":"test"}"#, headers: admin)
        let testKey = try #require(key.json?["key"] as? String)
        #expect(key.status == 201 && testKey.hasPrefix("pl_test_"))
        #expect(try await server.send("GET", "/api/v1/tenant", headers: ["Authorization": "Bearer \(testKey)"]).status == 200)
        #expect(try await server.send("DELETE", "/admin/v1/tenants/\(id)/keys/\(testKey)", headers: admin).status == 204)
        #expect(try await server.send("GET", "/api/v1/tenant", headers: ["Authorization": "Bearer \(testKey)"]).status == 401)
        #expect(try await server.send("DELETE", "/admin/v1/tenants/\(id)/keys/\(testKey)", headers: admin).status == 404)
        #expect(try await server.send("POST", "/admin/v1/tenants/\(id)/keys", body: #"{"mode":"staging"}"#, headers: admin).status == 422)
        await server.stop()
    }

    @Test("bad identities and bodies are refused, naming the field; nothing is created")
    func badInput() async throws {
        let server = try await LiveServer.start(.sqlite, adminToken: Self.token)
        var good = try Self.identityJSON(TestSupport.otherIdentity)
        func post(_ object: Any) async throws -> LiveServer.Reply {
            try await server.send("POST", "/admin/v1/tenants", bodyData: try Self.body(object), headers: admin)
        }
        func fields(_ reply: LiveServer.Reply) -> [String] { (reply.json?["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? [] }

        #expect(try await server.send("POST", "/admin/v1/tenants", body: "{\"name\":", headers: admin).status == 400)
        let missing = try await post(["identity": good])
        #expect(missing.status == 422 && fields(missing) == ["name"])
        let wrongTypes = try await post(["name": 7, "identity": "pem"])
        #expect(wrongTypes.status == 422 && fields(wrongTypes) == ["name", "identity"])
        var notPEM = good; notPEM["certificate"] = "hello"
        #expect(fields(try await post(["name": "X", "identity": notPEM])) == ["identity.certificate"])
        // A key of another certificate.
        var mismatched = good; mismatched["privateKey"] = String(decoding: try TestSupport.identity.key.pemBytes(), as: UTF8.self)
        let mismatch = try await post(["name": "X", "identity": mismatched])
        #expect(mismatch.status == 422 && (mismatch.json?["detail"] as? String)?.contains("is not the private key") == true)
        // The G1/G4 mix-up: an intermediate that did not issue the certificate.
        good["intermediates"] = String(decoding: TestSupport.identity.intermediate.pemBytes, as: UTF8.self)
        let wrongIssuer = try await post(["name": "X", "identity": good])
        #expect(wrongIssuer.status == 422 && (wrongIssuer.json?["detail"] as? String)?.contains("issued") == true)
        #expect(try await server.send("POST", "/admin/v1/tenants", bodyData: Data(count: 300_000), headers: admin).status == 413)
        let list = try #require(try await server.send("GET", "/admin/v1/tenants", headers: admin).json?["tenants"] as? [[String: Any]])
        #expect(list.count == 2)
        await server.stop()
    }

    @Test("a renewed certificate replaces the old one: checked first, same pass type only, and passes are signed with it at once", arguments: TestDatabase.available)
    func replaceIdentity(kind: TestDatabase) async throws {
        // It reads /metrics, which without a token answers loopback callers only.
        let server = try await LiveServer.start(kind, wire: true, adminToken: Self.token)
        let id = server.tenantA.id
        let renewed = try TestSupport.identity.renewed(validDays: 30)
        // The fixture's card has a bare template; issue one from the real template to download.
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        let zip = try PartnerAPITests().loyaltyZip()
        #expect(try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: zip, headers: key).status == 201)
        let card = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M-1","memberName":"Ada","points":1}"#, headers: key)
        let pkpass = try #require((card.json?["links"] as? [String: String])?["applePass"]).replacingOccurrences(of: "https://cards.example.com", with: "")
        let before = PassVerifier.verify([UInt8](try await server.send("GET", pkpass).body), trustAnchors: [TestSupport.identity.root])
        #expect(before.signer?.fingerprintSHA256 == TestSupport.identity.certificate.fingerprintSHA256)

        // Another pass type cannot replace it: issued passes keep theirs.
        let other = try await server.send("PUT", "/admin/v1/tenants/\(id)/identity", bodyData: try Self.body(try Self.identityJSON(TestSupport.otherIdentity)), headers: admin)
        #expect(other.status == 422 && (other.json?["detail"] as? String)?.contains("pass.dev.passline.tests") == true)

        let replaced = try await server.send("PUT", "/admin/v1/tenants/\(id)/identity", bodyData: try Self.body(try Self.identityJSON(renewed)), headers: admin)
        #expect(replaced.status == 200, "\(String(decoding: replaced.body, as: UTF8.self))")
        let certificate = try #require(replaced.json?["certificate"] as? [String: Any])
        #expect(certificate["fingerprintSHA256"] as? String == renewed.certificate.fingerprintSHA256)
        #expect((28...30).contains(certificate["daysToExpiry"] as? Int ?? 0))

        // The same version downloads again, now signed with the new certificate.
        let after = PassVerifier.verify([UInt8](try await server.send("GET", pkpass).body), trustAnchors: [TestSupport.identity.root])
        #expect(after.isValid && after.signer?.fingerprintSHA256 == renewed.certificate.fingerprintSHA256)
        let metrics = String(decoding: try await server.send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("passline_signing_certificate_days_to_expiry{tenant=\"\(id)\"} 29"))
        // Tenant B is untouched.
        let b = try await server.send("GET", "/admin/v1/tenants/\(server.tenantB.id)", headers: admin)
        #expect((b.json?["certificate"] as? [String: Any])?["fingerprintSHA256"] as? String == TestSupport.identity.certificate.fingerprintSHA256)
        await server.stop()
    }

    @Test("the operator sets a tenant's own rate limit, which its keys get at once; bad numbers and unknown tenants are named")
    func ratePlan() async throws {
        let server = try await LiveServer.start(.sqlite, adminToken: Self.token, rateLimit: .init(perSecond: 1, burst: 2))
        let tenant = server.tenantA.id
        let bad = try await server.send("PUT", "/admin/v1/tenants/\(tenant)/rate-limit", body: #"{"perSecond":0,"burst":"x","extra":1}"#, headers: admin)
        #expect(bad.status == 422 && Set((bad.json?["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? []) == ["burst", "extra"])
        #expect(try await server.send("PUT", "/admin/v1/tenants/\(tenant)/rate-limit", body: #"{"perSecond":0,"burst":5}"#, headers: admin).status == 422)
        #expect(try await server.send("PUT", "/admin/v1/tenants/nobody/rate-limit", body: #"{"perSecond":5,"burst":5}"#, headers: admin).status == 404)
        let set = try await server.send("PUT", "/admin/v1/tenants/\(tenant)/rate-limit", body: #"{"perSecond":50,"burst":40}"#, headers: admin)
        #expect(set.status == 200 && set.json?["burst"] as? Int == 40)
        let answer = try await server.send("GET", "/api/v1/tenant", headers: ["Authorization": "Bearer \(server.tenantA.liveKey)"])
        #expect(answer.header("RateLimit-Policy") == #""key";q=40;w=1"#)
        #expect(try await server.send("DELETE", "/admin/v1/tenants/\(tenant)/rate-limit", headers: admin).status == 204)
        #expect(try await server.send("GET", "/api/v1/tenant", headers: ["Authorization": "Bearer \(server.tenantA.liveKey)"]).header("RateLimit-Policy") == #""key";q=2;w=2"#)
        await server.stop()
    }
}
