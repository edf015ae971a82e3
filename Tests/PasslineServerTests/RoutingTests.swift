import Foundation
import Hummingbird
import HummingbirdTesting
import PasslineJSON
@testable import PasslineServer
import PasslineService
import PasslineTestSupport
import Testing

/// The request pipeline through Hummingbird's test client: no port, no socket; what is checked
/// is which middleware and handler a request meets and the answer they give.
@Suite("The request pipeline, through the router")
struct RoutingTests {
    func withRouter(adminToken: String? = nil, _ body: @escaping @Sendable (any TestClientProtocol, LiveServer.Fixture) async throws -> Void) async throws {
        let fixture = try await LiveServer.fixture(.sqlite)
        let configuration = try ServerConfiguration.resolve(environment: adminToken.map { ["PASSLINE_ADMIN_TOKEN": $0] } ?? [:])
        let app = Application(router: buildRouter(services: fixture.services, configuration: configuration))
        try await app.test(.router) { client in try await body(client, fixture) }
        await fixture.database.close()
    }

    func problem(_ response: TestResponse) -> (type: String, detail: String)? {
        guard response.headers[.contentType] == "application/problem+json",
              let json = try? JSONParser.parse(Array(buffer: response.body)) else { return nil }
        return ((json["type"]?.stringValue ?? "").replacingOccurrences(of: "https://passline.dev/problems/", with: ""), json["detail"]?.stringValue ?? "")
    }

    @Test("each plane is authenticated by its middleware: no key, a wrong key, another tenant's token are refused before any handler")
    func planes() async throws {
        try await withRouter { client, fixture in
            let a = "/passkit/\(fixture.tenantA.id)/v1", b = "/passkit/\(fixture.tenantB.id)/v1", passType = "pass.dev.passline.tests"
            for (uri, headers) in [
                ("/api/v1/tenant", [:]), ("/api/v1/tenant", [.authorization: "Bearer pk_live_nope"]),
                ("\(a)/passes/\(passType)/S1", [:]), ("\(a)/passes/\(passType)/S1", [.authorization: "ApplePass wrong-token-0123456789"]),
                // Tenant A's card token, presented for tenant B's card of the same serial.
                ("\(b)/passes/\(passType)/S1", [.authorization: "ApplePass card-token-a-0123456789abcdef"]),
                ("\(a)/passes/\(passType)/NOSUCH", [.authorization: "ApplePass card-token-a-0123456789abcdef"]),
            ] as [(String, HTTPFields)] {
                try await client.execute(uri: uri, method: .get, headers: headers) { response in
                    #expect(response.status == .unauthorized, "\(uri)")
                    #expect(self.problem(response)?.type == "unauthorized", "\(uri)")
                }
            }
            try await client.execute(uri: "/api/v1/tenant", method: .get, headers: [.authorization: "Bearer \(fixture.tenantA.liveKey)"]) { response in
                #expect(response.status == .ok)
            }
            // Without a token configured, the admin API is not there at all.
            try await client.execute(uri: "/admin/v1/tenants", method: .get, headers: [.authorization: "Bearer anything-at-all-0123456789"]) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/no/such/route", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(self.problem(response) != nil)
            }
        }
    }

    @Test("a device whose copy is current gets 304 before anything is built (the card's template could not build a pass)")
    func notModifiedBeforeBuild() async throws {
        try await withRouter { client, fixture in
            let uri = "/passkit/\(fixture.tenantA.id)/v1/passes/pass.dev.passline.tests/S1"
            let token: HTTPFields = [.authorization: "ApplePass card-token-a-0123456789abcdef"]
            var current = token
            current[.ifModifiedSince] = "Fri, 01 Jan 2100 00:00:00 GMT"
            try await client.execute(uri: uri, method: .get, headers: current) { response in
                #expect(response.status == .notModified)
                #expect(response.headers[.lastModified] != nil)
            }
            let card = try await fixture.services.cards.get(tenant: fixture.tenantA.id, mode: nil, serial: "S1")
            #expect(card.fetchedVersion == nil, "a 304 is not a fetch")
            // Without the header the pass is built, and this card's template ("{}") cannot build one: a 422 naming why.
            try await client.execute(uri: uri, method: .get, headers: token) { response in
                #expect(response.status == .unprocessableContent)
                #expect(self.problem(response)?.type == "invalid-template")
            }
        }
    }

    @Test("one body reader: over the route's limit 413, not JSON 400, not an object 422, each as problem+json")
    func bodies() async throws {
        try await withRouter { client, fixture in
            let uri = "/passkit/\(fixture.tenantA.id)/v1/devices/phone-1/registrations/pass.dev.passline.tests/S1"
            let token: HTTPFields = [.authorization: "ApplePass card-token-a-0123456789abcdef"]
            let cases: [(String, HTTPResponse.Status, String)] = [
                (#"{"pushToken":""# + String(repeating: "a", count: 20_000) + #""}"#, .contentTooLarge, "http-413"),
                ("{", .badRequest, "invalid-json"),
                ("[1]", .unprocessableContent, "invalid-field"),
                (#"{"pushToken":"not hex"}"#, .unprocessableContent, "invalid-field"),
            ]
            for (body, status, type) in cases {
                try await client.execute(uri: uri, method: .post, headers: token, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status, "\(body.prefix(40))")
                    #expect(self.problem(response)?.type == type, "\(body.prefix(40))")
                }
            }
            try await client.execute(uri: uri, method: .post, headers: token, body: ByteBuffer(string: #"{"pushToken":"0a0b"}"#)) { response in
                #expect(response.status == .created)
            }
        }
    }
}
