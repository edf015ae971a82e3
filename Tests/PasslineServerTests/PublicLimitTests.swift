import Foundation
import PasslineServer
import PasslineTestSupport
import Testing

@Suite("Limits on the routes anyone may call")
struct PublicLimitTests {
    @Test("a card's public links and Apple's web service answer 429 with Retry-After past a card's limit; other cards go on until the source's limit")
    func perCardAndSource() async throws {
        let server = try await LiveServer.start(.sqlite) { configuration in
            (configuration.publicCardBurst, configuration.publicCardPerSecond) = (3, 0.001)
            (configuration.publicSourceBurst, configuration.publicSourcePerSecond) = (8, 0.001)
        }
        let page = "/c/pub-\(server.tenantA.id)"
        var statuses: [Int] = []
        for _ in 0..<4 { statuses.append(try await server.send("GET", page).status) }
        // (The fixture's card has a bare template, so its page is a 422: an answer all the same.)
        #expect(statuses.prefix(3).allSatisfy { $0 != 429 } && statuses.last == 429, "\(statuses)")
        let refused = try await server.send("GET", page + "/pass.pkpass")
        #expect(refused.status == 429 && refused.header("Retry-After") != nil && (refused.json?["detail"] as? String)?.contains("This card") == true)
        // The other tenant's card has its own bucket; Apple's latest-pass route counts per card too.
        let latest = "\(server.service(server.tenantB))/passes/pass.dev.passline.tests/S1"
        let auth = ["Authorization": "ApplePass card-token-b-0123456789abcdef"]
        statuses = []
        for _ in 0..<4 { statuses.append(try await server.send("GET", latest, headers: auth).status) }
        #expect(statuses.prefix(3).allSatisfy { $0 != 429 } && statuses.last == 429, "\(statuses)")
        // Past the source's limit, any card: 4 + 1 + 4 requests spent 8 of the source's burst.
        let other = try await server.send("GET", "/c/pub-\(server.tenantB.id)")
        #expect(other.status == 429 && (other.json?["detail"] as? String)?.contains("This address") == true)
        await server.stop()
    }

    @Test("PASSLINE_PUBLIC_RATE_LIMIT is read, checked and named")
    func configuration() throws {
        let set = try ServerConfiguration.resolve(listen: "127.0.0.1:0", environment: ["PASSLINE_PUBLIC_RATE_LIMIT": "20/200"])
        #expect(set.publicSourceBurst == 200 && set.publicSourcePerSecond == 20 && set.publicCardBurst == 20 && set.publicCardPerSecond == 2)
        #expect(try ServerConfiguration.resolve(listen: "127.0.0.1:0", environment: ["PASSLINE_PUBLIC_RATE_LIMIT": "off"]).publicCardBurst == 1_000_000_000)
        #expect(throws: (any Error).self) { try ServerConfiguration.resolve(listen: "127.0.0.1:0", environment: ["PASSLINE_PUBLIC_RATE_LIMIT": "fast"]) }
    }
}
