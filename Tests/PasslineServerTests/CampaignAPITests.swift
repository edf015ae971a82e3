import ApplePass
import Foundation
import PasslineTestSupport
import Testing

@Suite("Campaigns, messages and delivery over the partner API")
struct CampaignAPITests {
    @Test("reissue a template: 202, progress to finished, devices see the change, a fetch shows as opened", arguments: TestDatabase.available)
    func reissue(kind: TestDatabase) async throws {
        // It reads /metrics at the end, which without a token answers loopback callers only.
        let server = try await LiveServer.start(kind, wire: true)
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        #expect(try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: try PartnerAPITests().loyaltyZip(), headers: key).status == 201)
        var serials: [String] = []
        for n in 0..<3 {
            let card = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M-\#(n)","memberName":"Ada","points":10}"#, headers: key)
            serials.append(try #require(card.json?["serialNumber"] as? String))
        }
        let pass = PassVerifier.verify([UInt8](try await server.send("GET", "/api/v1/cards/\(serials[0])/pass.pkpass", headers: key).body), trustAnchors: nil)
        let token = try #require(pass.passJSON?["authenticationToken"]?.stringValue)
        let service = server.service(server.tenantA), passType = "pass.dev.passline.tests"
        let apple = ["Authorization": "ApplePass \(token)"]
        #expect(try await server.send("POST", "\(service)/devices/phone/registrations/\(passType)/\(serials[0])", body: #"{"pushToken":"abcd"}"#, headers: apple).status == 201)
        let tag = try #require(try await server.send("GET", "\(service)/devices/phone/registrations/\(passType)").json?["lastUpdated"] as? String)

        let started = try await server.send("POST", "/api/v1/templates/lumen/reissue", headers: key)
        #expect(started.status == 202, "\(String(decoding: started.body, as: UTF8.self))")
        let campaign = try #require(started.json?["campaign"] as? [String: Any])
        let id = try #require(campaign["id"] as? String)
        #expect(campaign["total"] as? Int == 3 && campaign["done"] as? Int == 0 && campaign["state"] as? String == "running")
        #expect(started.header("Location") == "/api/v1/campaigns/\(id)")

        var status: [String: Any] = [:]
        for _ in 0..<100 {
            status = try #require(try await server.send("GET", "/api/v1/campaigns/\(id)", headers: key).json)
            if status["state"] as? String == "finished" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(status["state"] as? String == "finished" && status["done"] as? Int == 3 && status["failed"] as? Int == 0 && status["total"] as? Int == 3)
        let outcomes = Set((status["pushes"] as? [String: Int] ?? [:]).keys)
        #expect(outcomes.isSuperset(of: ["delivered", "failed", "unregistered"]))
        #expect(status["fetched"] as? Int == 0)
        for serial in serials {
            #expect(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json?["version"] as? Int == 2)
        }
        let changed = try await server.send("GET", "\(service)/devices/phone/registrations/\(passType)?passesUpdatedSince=\(tag)")
        #expect(changed.json?["serialNumbers"] as? [String] == [serials[0]])

        // The device fetches the new version: the card and the campaign both show it.
        #expect(try await server.send("GET", "\(service)/passes/\(passType)/\(serials[0])", headers: apple).status == 200)
        let delivery = try #require(try await server.send("GET", "/api/v1/cards/\(serials[0])/delivery", headers: key).json)
        #expect(delivery["devices"] as? Int == 1 && delivery["version"] as? Int == 2 && delivery["fetchedVersion"] as? Int == 2)
        #expect(delivery["fetchedCurrentVersion"] as? Bool == true && delivery["fetchedAt"] is String)
        #expect(try await server.send("GET", "/api/v1/campaigns/\(id)", headers: key).json?["fetched"] as? Int == 1)
        let unfetched = try #require(try await server.send("GET", "/api/v1/cards/\(serials[1])/delivery", headers: key).json)
        #expect(unfetched["devices"] as? Int == 0 && unfetched["fetchedCurrentVersion"] as? Bool == false && unfetched["fetchedVersion"] is NSNull)

        // The other tenant, and the test key, see no such campaign.
        #expect(try await server.send("GET", "/api/v1/campaigns/\(id)", headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 404)
        #expect(try await server.send("GET", "/api/v1/campaigns/\(id)", headers: ["Authorization": "Bearer \(server.tenantA.testKey)"]).status == 404)
        #expect(try await server.send("POST", "/api/v1/templates/lumen/reissue", headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 404)
        let metrics = String(decoding: try await server.send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("passline_campaigns_running 0") && metrics.contains("passline_campaign_cards_pending 0"))
        await server.stop()
    }

    @Test("messages to one card and to a template; bad bodies name the field", arguments: TestDatabase.available)
    func messages(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        #expect(try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: try PartnerAPITests().loyaltyZip(), headers: key).status == 201)
        let card = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M-1","memberName":"Ada","points":10}"#, headers: key)
        let serial = try #require(card.json?["serialNumber"] as? String)

        let one = try await server.send("POST", "/api/v1/cards/\(serial)/message", body: #"{"message":"See you Friday ✨"}"#, headers: key)
        #expect(one.status == 200 && (one.json?["fields"] as? [String: Any])?["message"] as? String == "See you Friday ✨" && one.json?["version"] as? Int == 2)
        let pass = PassVerifier.verify([UInt8](try await server.send("GET", "/api/v1/cards/\(serial)/pass.pkpass", headers: key).body), trustAnchors: nil)
        let news = pass.passJSON?["storeCard"]?["backFields"]?.arrayValue?.first { $0["key"] == .string("news") }
        #expect(news?["value"] == .string("See you Friday ✨") && news?["changeMessage"] == .string("%@"))

        let all = try await server.send("POST", "/api/v1/templates/lumen/message", body: #"{"message":"Double points this weekend"}"#, headers: key)
        #expect(all.status == 202 && (all.json?["campaign"] as? [String: Any])?["kind"] as? String == "message")

        func fields(_ reply: LiveServer.Reply) -> [String] { (reply.json?["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? [] }
        let cases: [(String, String, Int, [String])] = [
            ("/api/v1/templates/lumen/message", "", 422, ["message"]),
            ("/api/v1/templates/lumen/message", #"{"message":5}"#, 422, ["message"]),
            ("/api/v1/templates/lumen/message", #"{"message":"   "}"#, 422, ["message"]),
            ("/api/v1/templates/lumen/reissue", #"{"fields":{"tier":[1]},"colour":"red"}"#, 422, ["colour", "fields.tier"]),
            ("/api/v1/templates/lumen/reissue", #"{"fields":{"points":5}}"#, 422, ["fields.points"]),
            ("/api/v1/templates/lumen/reissue", #"{"fields":"#, 400, []),
            ("/api/v1/templates/nope/reissue", "", 404, []),
            ("/api/v1/cards/\(serial)/message", #"{"message":"x","fields":{}}"#, 422, ["fields"]),
            ("/api/v1/cards/unknown/message", #"{"message":"x"}"#, 404, []),
        ]
        for (path, body, status, named) in cases {
            let reply = try await server.send("POST", path, body: body, headers: key)
            #expect(reply.status == status && fields(reply) == named, "\(path) \(body): \(reply.status) \(String(decoding: reply.body, as: UTF8.self))")
        }
        #expect(try await server.send("POST", "/api/v1/templates/lumen/message", bodyData: Data(count: 70_000), headers: key).status == 413)
        await server.stop()
    }
}
