import Foundation
import PasslineService
import PasslineTestSupport
import Testing

@Suite("Idempotency-Key on every POST and PATCH")
struct IdempotencyTests {
    @Test("the same key and request replay the first answer, errors and Location included; another request is a 422; keys are per tenant, mode and route",
          arguments: TestDatabase.available)
    func everyWrite(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        func with(_ idempotencyKey: String, _ headers: [String: String] = [:]) -> [String: String] { headers.merging(["Idempotency-Key": idempotencyKey]) { $1 } }
        let body = #"{"template":"lumen","memberId":"I-1","memberName":"Ida","points":5}"#
        let first = try await server.send("POST", "/api/v1/cards", body: body, headers: with("card-1", key))
        let again = try await server.send("POST", "/api/v1/cards", body: body, headers: with("card-1", key))
        #expect(first.status == 201 && again.status == 201 && again.header("Idempotent-Replayed") == "true" && first.header("Idempotent-Replayed") == nil)
        #expect(again.body == first.body, "the same card, not a second one")
        let other = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"I-2","memberName":"Ida","points":5}"#, headers: with("card-1", key))
        #expect(other.status == 422 && (other.json?["errors"] as? [[String: Any]])?.first?["field"] as? String == "Idempotency-Key")
        // Without a key, a new card each time.
        let plain = try await server.send("POST", "/api/v1/cards", body: body, headers: key)
        #expect(plain.status == 201 && plain.json?["serialNumber"] as? String != first.json?["serialNumber"] as? String)

        // Errors are answers too.
        let bad = try await server.send("POST", "/api/v1/cards", body: #"{"template":"nothing","memberId":"X","memberName":"Y","points":0}"#, headers: with("card-2", key))
        let badAgain = try await server.send("POST", "/api/v1/cards", body: #"{"template":"nothing","memberId":"X","memberName":"Y","points":0}"#, headers: with("card-2", key))
        #expect(bad.status == 404 && badAgain.status == 404 && badAgain.header("Idempotent-Replayed") == "true" && badAgain.body == bad.body)
        #expect(badAgain.contentType == "application/problem+json")

        // A PATCH replays without a second version; another route, tenant or mode keeps its own keys.
        let patched = try await server.send("PATCH", "/api/v1/cards/\(serial)", body: #"{"memberName":"Nia"}"#, headers: with("same", key))
        let patchedAgain = try await server.send("PATCH", "/api/v1/cards/\(serial)", body: #"{"memberName":"Nia"}"#, headers: with("same", key))
        #expect(patched.json?["version"] as? Int == 2 && patchedAgain.json?["version"] as? Int == 2)
        #expect(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json?["version"] as? Int == 2)
        #expect(try await server.send("POST", "/api/v1/rewards", body: #"{"name":"Tea","cost":5}"#, headers: with("same", key)).status == 201)
        #expect(try await server.send("POST", "/api/v1/rewards", body: #"{"name":"Tea","cost":5}"#, headers: with("same", ["Authorization": "Bearer \(server.tenantA.testKey)"])).status == 201)
        #expect(try await server.send("POST", "/api/v1/rewards", body: #"{"name":"Tea","cost":5}"#, headers: with("same", ["Authorization": "Bearer \(server.tenantB.liveKey)"])).status == 201)
        #expect((try await server.send("GET", "/api/v1/rewards", headers: key).json?["rewards"] as? [Any])?.count == 1)

        // A campaign's 202 and its Location come back the same.
        let campaign = try await server.send("POST", "/api/v1/templates/lumen/reissue", headers: with("campaign", key))
        let campaignAgain = try await server.send("POST", "/api/v1/templates/lumen/reissue", headers: with("campaign", key))
        #expect(campaign.status == 202 && campaignAgain.status == 202 && campaignAgain.header("Location") == campaign.header("Location") && campaign.header("Location") != nil)
        #expect(try await server.send("POST", "/api/v1/cards", body: body, headers: with(String(repeating: "k", count: 201), key)).status == 422)
        await server.stop()
    }
}
