import Foundation
import PasslineService
import PasslineTestSupport
import Testing

@Suite("Webhook endpoints over the partner API")
struct WebhookAPITests {
    func fields(_ reply: LiveServer.Reply) -> [String] { (reply.json?["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? [] }

    @Test("create shows the secret once; list, get, update, disable, rotate, delete; every fault named; other tenants and modes see nothing",
          arguments: TestDatabase.available)
    func endpoints(kind: TestDatabase) async throws {
        let (server, key, _) = try await TransactionTests().setUp(kind)
        let bad = try await server.send("POST", "/api/v1/webhook-endpoints", body: #"{"url":"ftp://x","events":["card.exploded",7],"colour":1}"#, headers: key)
        #expect(bad.status == 422 && Set(fields(bad)) == ["colour", "events[1]"], "\(String(decoding: bad.body, as: UTF8.self))")
        let worse = try await server.send("POST", "/api/v1/webhook-endpoints", body: #"{"url":"ftp://x","events":["card.exploded"]}"#, headers: key)
        #expect(worse.status == 422 && Set(fields(worse)) == ["url", "events[0]"])
        #expect(Set(fields(try await server.send("POST", "/api/v1/webhook-endpoints", body: "{}", headers: key))) == ["url", "events"])
        let metadata = try await server.send("POST", "/api/v1/webhook-endpoints", body: #"{"url":"https://169.254.169.254/latest","events":["card.created"]}"#, headers: key)
        #expect(metadata.status == 422 && (metadata.json?["detail"] as? String)?.contains("169.254.169.254") == true)

        let made = try await server.send("POST", "/api/v1/webhook-endpoints", body: #"{"url":"http://127.0.0.1:9/hook","events":["transaction.created","card.created"],"description":"till"}"#, headers: key)
        #expect(made.status == 201 && (made.json?["secret"] as? String)?.hasPrefix("whsec_") == true && made.json?["mode"] as? String == "live")
        let id = try #require(made.json?["id"] as? String)
        let got = try await server.send("GET", "/api/v1/webhook-endpoints/\(id)", headers: key)
        #expect(got.status == 200 && got.json?["secret"] == nil && got.json?["description"] as? String == "till")
        #expect((try await server.send("GET", "/api/v1/webhook-endpoints", headers: key).json?["webhookEndpoints"] as? [Any])?.count == 1)
        // Another tenant, and the test mode, see none of it.
        let other = ["Authorization": "Bearer \(server.tenantB.liveKey)"], test = ["Authorization": "Bearer \(server.tenantA.testKey)"]
        for headers in [other, test] {
            #expect(try await server.send("GET", "/api/v1/webhook-endpoints/\(id)", headers: headers).status == 404)
            #expect(try await server.send("PATCH", "/api/v1/webhook-endpoints/\(id)", body: #"{"disabled":true}"#, headers: headers).status == 404)
            #expect(try await server.send("DELETE", "/api/v1/webhook-endpoints/\(id)", headers: headers).status == 404)
            #expect(try await server.send("POST", "/api/v1/webhook-endpoints/\(id)/rotate-secret", headers: headers).status == 404)
            #expect(try await server.send("GET", "/api/v1/webhook-endpoints/\(id)/deliveries", headers: headers).status == 404)
            #expect((try await server.send("GET", "/api/v1/webhook-endpoints", headers: headers).json?["webhookEndpoints"] as? [Any])?.isEmpty == true)
        }

        let patched = try await server.send("PATCH", "/api/v1/webhook-endpoints/\(id)", body: #"{"events":["reward.redeemed"],"disabled":true}"#, headers: key)
        #expect(patched.status == 200 && patched.json?["events"] as? [String] == ["reward.redeemed"] && patched.json?["disabled"] as? Bool == true)
        #expect(try await server.send("PATCH", "/api/v1/webhook-endpoints/\(id)", body: #"{"disabled":"yes"}"#, headers: key).status == 422)
        let rotated = try await server.send("POST", "/api/v1/webhook-endpoints/\(id)/rotate-secret", headers: key)
        #expect(rotated.status == 200 && rotated.json?["secretRotating"] as? Bool == true && rotated.json?["secret"] as? String != made.json?["secret"] as? String)
        #expect(try await server.send("GET", "/api/v1/webhook-endpoints/\(id)/deliveries?limit=0", headers: key).status == 400)
        #expect((try await server.send("GET", "/api/v1/webhook-endpoints/\(id)/deliveries", headers: key).json?["deliveries"] as? [Any])?.isEmpty == true)
        #expect(try await server.send("POST", "/api/v1/webhook-endpoints/\(id)/replay", body: #"{"since":"yesterday"}"#, headers: key).status == 422)
        #expect(try await server.send("POST", "/api/v1/webhook-endpoints/\(id)/replay", body: #"{"since":"2000-01-01T00:00:00Z"}"#, headers: key).json?["enqueued"] as? Int == 0)
        #expect(try await server.send("POST", "/api/v1/events/evt_nothing/replay", headers: key).status == 404)
        #expect(try await server.send("DELETE", "/api/v1/webhook-endpoints/\(id)", headers: key).status == 204)
        #expect(try await server.send("GET", "/api/v1/webhook-endpoints/\(id)", headers: key).status == 404)
        await server.stop()
    }
}
