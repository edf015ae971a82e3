import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import HummingbirdTesting
import Logging
import LoyaltyRules
import PasslineCrypto
@testable import PasslineServer
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import Testing

/// A server over a fresh store with two tenants, each with one card, reached one of two ways:
/// through Hummingbird's router test client (the default: no socket, the same middleware and
/// handlers), or on a free loopback port where the wire matters (a browser, the caller's
/// address for per-source limits and loopback-only routes).
struct LiveServer {
    enum Transport: Sendable {
        case router(any TestClientProtocol)
        case port(base: String)
    }

    let transport: Transport
    let database: any SQLDatabase
    let tenantA: Tenants.Created
    let tenantB: Tenants.Created
    let tokenA = "card-token-a-0123456789abcdef"
    let task: Task<Void, any Error>
    /// The services the server runs on (its store and master key).
    let services: Services

    /// The server's address; only a server started with `wire: true` has one.
    var base: String {
        guard case .port(let base) = transport else { preconditionFailure("a router-backed server has no address: start it with wire: true") }
        return base
    }

    /// A fresh store with two tenants, each with one card (`S1`, template `{}`), and the services over it.
    struct Fixture: Sendable {
        let database: any SQLDatabase
        let services: Services
        let tenantA: Tenants.Created
        let tenantB: Tenants.Created
    }

    /// - Parameter rateLimit: each API key's limit, on a clock that stands still (no bucket
    ///   refills during the test, however slow the machine); nil (the default here) turns limits
    ///   off, so that tests sending many requests measure what they mean to.
    static func fixture(_ kind: TestDatabase, rateLimit: RateLimit? = nil) async throws -> Fixture {
        let database = try await kind.make()
        try await Migrator.migrate(database)
        let tenants = Tenants(database: database, secrets: try SecretBox(key: SecretBox.generateKey()))
        let identity = try TestSupport.identity.signingIdentity()
        let a = try await tenants.create(name: "Lumen", identity: identity)
        let b = try await tenants.create(name: "Harbour", identity: identity)
        for (tenant, token) in [(a.id, "card-token-a-0123456789abcdef"), (b.id, "card-token-b-0123456789abcdef")] {
            try await database.transaction { connection in
                try TemplateRows.create(id: "tpl-\(tenant)", tenant: tenant, name: "loyalty", passJSON: Array("{}".utf8), now: 1, on: connection)
                try CardRows.insert(CardRows.NewCard(serialNumber: "S1", templateID: "tpl-\(tenant)", memberID: "M1", memberName: "Ada",
                                                       authenticationToken: token, publicToken: "pub-\(tenant)", points: 0), tenant: tenant, now: 1,
                                       on: connection)
            }
        }
        let templates = Templates(database: database)
        let services = Services(tenants: tenants, templates: templates,
                                cards: Cards(database: database, templates: templates, tenants: tenants, publicURL: "https://cards.example.com"),
                                jobs: JobQueue(database: database), logger: Logger(label: "test"),
                                webhooks: Webhooks(database: database, secrets: tenants.secrets, addresses: WebhookAddresses(allowLoopback: true)),
                                rateLimits: .some(rateLimit.map { RateLimits(database: database, defaults: .init(key: $0), clock: { 1_000_000 }) }),
                                // Still scrypt, at a cost that keeps sign-in tests quick.
                                passwordHasher: PasswordHasher(cost: .fast))
        return Fixture(database: database, services: services, tenantA: a, tenantB: b)
    }

    /// - Parameter wire: listen on a loopback port instead of answering through the router test client.
    static func start(_ kind: TestDatabase, wire: Bool = false, adminToken: String? = nil, deviceLogBurst: Int = 1_000, deviceLogPerSecond: Double = 2,
                      rateLimit: RateLimit? = nil, adjust: (inout ServerConfiguration) -> Void = { _ in }) async throws -> LiveServer {
        let fixture = try await fixture(kind, rateLimit: rateLimit)
        let (database, services) = (fixture.database, fixture.services)
        var configuration = try ServerConfiguration.resolve(listen: "127.0.0.1:0", environment: adminToken.map { ["PASSLINE_ADMIN_TOKEN": $0] } ?? [:])
        configuration.deviceLogBurst = deviceLogBurst
        configuration.deviceLogPerSecond = deviceLogPerSecond
        adjust(&configuration)
        let transport: Transport
        let task: Task<Void, any Error>
        if wire {
            let (ports, continuation) = AsyncStream<Int>.makeStream()
            let app = buildApplication(services: services, configuration: configuration, logger: Logger(label: "test")) { continuation.yield($0) }
            task = Task {
                // The campaign runner and the importer beside the server, as `passline serve` runs them.
                let campaigns = Task { await services.campaigns.run() }
                let imports = Task { await services.imports.run() }
                defer { campaigns.cancel(); imports.cancel() }
                try await app.run()
            }
            var iterator = ports.makeAsyncIterator()
            transport = .port(base: "http://127.0.0.1:\(await iterator.next()!)")
        } else {
            let (clients, continuation) = AsyncStream<any TestClientProtocol>.makeStream()
            let app = Application(router: buildRouter(services: services, configuration: configuration))
            task = Task {
                let campaigns = Task { await services.campaigns.run() }
                let imports = Task { await services.imports.run() }
                defer { campaigns.cancel(); imports.cancel() }
                // The client is handed out and the test framework's scope held open until `stop()`.
                try await app.test(.router) { client in
                    continuation.yield(client)
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3_600)) }
                }
            }
            var iterator = clients.makeAsyncIterator()
            transport = .router(await iterator.next()!)
        }
        return LiveServer(transport: transport, database: database, tenantA: fixture.tenantA, tenantB: fixture.tenantB, task: task, services: services)
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        await database.close()
    }

    struct Reply {
        let status: Int
        let body: Data
        let contentType: String?
        let lastModified: String?
        let headers: [String: String]
        func header(_ name: String) -> String? { headers.first { $0.key.lowercased() == name.lowercased() }?.value }
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
    }

    func send(_ method: String, _ path: String, body: String? = nil, bodyData: Data? = nil, headers: [String: String] = [:]) async throws -> Reply {
        let bytes = bodyData ?? body.map { Data($0.utf8) }
        switch transport {
        case .router(let client):
            var fields = HTTPFields()
            for (name, value) in headers { fields.append(HTTPFields.Element(name: .init(name)!, value: value)) }
            let response = try await client.executeRequest(uri: path, method: HTTPRequest.Method(method)!, headers: fields,
                                                           body: bytes.map { ByteBuffer(bytes: $0) })
            var all: [String: String] = [:]
            for field in response.headers { all[field.name.canonicalName] = all[field.name.canonicalName].map { "\($0), \(field.value)" } ?? field.value }
            return Reply(status: Int(response.status.code), body: Data(buffer: response.body), contentType: response.headers[.contentType],
                         lastModified: response.headers[.lastModified], headers: all)
        case .port(let base):
            var request = URLRequest(url: URL(string: base + path)!)
            request.httpMethod = method
            request.httpBody = bytes
            for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = response as! HTTPURLResponse
            return Reply(status: http.statusCode, body: data, contentType: http.value(forHTTPHeaderField: "Content-Type"),
                         lastModified: http.value(forHTTPHeaderField: "Last-Modified"),
                         headers: http.allHeaderFields.reduce(into: [:]) { $0["\($1.key)"] = "\($1.value)" })
        }
    }

    func service(_ tenant: Tenants.Created) -> String { "/passkit/\(tenant.id)/v1" }
}

@Suite("Apple's pass web service, over HTTP")
struct PassWebServiceTests {
    @Test("a device registers, learns of changes, and unregisters, as an iPhone does", arguments: TestDatabase.available)
    func deviceFlow(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let a = server.service(server.tenantA)
        let passType = "pass.dev.passline.tests"
        let auth = ["Authorization": "ApplePass \(server.tokenA)"]

        #expect(try await server.send("GET", "/healthz").status == 200)
        #expect(try await server.send("GET", "/readyz").status == 200)

        // Nothing registered yet.
        #expect(try await server.send("GET", "\(a)/devices/phone-1/registrations/\(passType)").status == 204)

        let first = try await server.send("POST", "\(a)/devices/phone-1/registrations/\(passType)/S1", body: #"{"pushToken":"0a01"}"#, headers: auth)
        #expect(first.status == 201)
        // Registering again is 200, and a rotated push token replaces the old one.
        let again = try await server.send("POST", "\(a)/devices/phone-1/registrations/\(passType)/S1", body: #"{"pushToken":"0a02"}"#, headers: auth)
        #expect(again.status == 200)
        let tokenA = server.tenantA.id
        let stored = try await server.database.withConnection { try $0.first("SELECT push_token FROM devices WHERE tenant_id = ?", [.text(tokenA)]) }
        #expect(try stored?.string("push_token") == "0a02")

        let all = try await server.send("GET", "\(a)/devices/phone-1/registrations/\(passType)")
        #expect(all.status == 200)
        #expect(all.json?["serialNumbers"] as? [String] == ["S1"])
        // lastUpdated is a JSON string: an integer silently stops updates on iPhones.
        let tag = try #require(all.json?["lastUpdated"] as? String)
        #expect(Int(tag) != nil)

        #expect(try await server.send("GET", "\(a)/devices/phone-1/registrations/\(passType)?passesUpdatedSince=\(tag)").status == 204)
        _ = try await server.database.transaction { try CardRows.recordChange(tenant: tokenA, serial: "S1", now: 2, on: $0) }
        let changed = try await server.send("GET", "\(a)/devices/phone-1/registrations/\(passType)?passesUpdatedSince=\(tag)")
        #expect(changed.status == 200)
        #expect(changed.json?["serialNumbers"] as? [String] == ["S1"])
        #expect(Int(changed.json?["lastUpdated"] as? String ?? "0")! > Int(tag)!)

        #expect(try await server.send("DELETE", "\(a)/devices/phone-1/registrations/\(passType)/S1", headers: auth).status == 200)
        #expect(try await server.send("GET", "\(a)/devices/phone-1/registrations/\(passType)").status == 204)
        let devices = try await server.database.withConnection { try $0.first("SELECT COUNT(*) AS n FROM devices", [])!.int("n") }
        #expect(devices == 0, "a device with no passes left is removed")
        await server.stop()
    }

    @Test("wrong, missing or another tenant's tokens get 401 and change nothing", arguments: TestDatabase.available)
    func authorization(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let a = server.service(server.tenantA), b = server.service(server.tenantB)
        let passType = "pass.dev.passline.tests"
        let path = "/devices/phone-1/registrations/\(passType)/S1"
        let cases: [(String, [String: String])] = [
            (a, [:]),
            (a, ["Authorization": "ApplePass wrong-token-0123456789"]),
            (a, ["Authorization": "Bearer \(server.tokenA)"]),
            // Tenant B's card S1 with tenant A's token: the token is per card and per tenant.
            (b, ["Authorization": "ApplePass \(server.tokenA)"]),
        ]
        for (service, headers) in cases {
            let reply = try await server.send("POST", service + path, body: #"{"pushToken":"t"}"#, headers: headers)
            #expect(reply.status == 401, "\(service) \(headers)")
            #expect(reply.contentType == "application/problem+json")
            // The problem shape INTERFACE.md fixes, every key present.
            #expect(Set(reply.json?.keys ?? [:].keys) == ["type", "title", "status", "detail", "errors"])
            #expect(reply.json?["status"] as? Int == 401)
            #expect(try await server.send("DELETE", service + path, headers: headers).status == 401)
        }
        // A serial that does not exist looks the same as a wrong token.
        let unknownSerial = try await server.send("POST", "\(a)/devices/phone-1/registrations/\(passType)/S404", body: #"{"pushToken":"t"}"#,
                                                  headers: ["Authorization": "ApplePass \(server.tokenA)"])
        #expect(unknownSerial.status == 401)
        let wrongPassType = try await server.send("POST", "\(a)/devices/phone-1/registrations/pass.other/S1", body: #"{"pushToken":"t"}"#,
                                                  headers: ["Authorization": "ApplePass \(server.tokenA)"])
        #expect(wrongPassType.status == 401)
        let registrations = try await server.database.withConnection { try $0.first("SELECT COUNT(*) AS n FROM registrations", [])!.int("n") }
        #expect(registrations == 0)
        await server.stop()
    }

    @Test("a card is on ten devices at most, and one address registers a bounded number a minute", arguments: TestDatabase.available)
    func registrationLimits(kind: TestDatabase) async throws {
        // The limit is per caller's address: a socket's.
        let server = try await LiveServer.start(kind, wire: true) { $0.registrationBurst = 12; $0.registrationsPerSecond = 0.01 }
        let a = server.service(server.tenantA)
        let auth = ["Authorization": "ApplePass \(server.tokenA)"]
        for n in 0..<10 {
            let reply = try await server.send("POST", "\(a)/devices/phone-\(n)/registrations/pass.dev.passline.tests/S1", body: #"{"pushToken":"0a\#(n)"}"#, headers: auth)
            #expect(reply.status == 201, "device \(n): \(reply.status)")
        }
        let eleventh = try await server.send("POST", "\(a)/devices/phone-10/registrations/pass.dev.passline.tests/S1", body: #"{"pushToken":"0b"}"#, headers: auth)
        #expect(eleventh.status == 422 && (eleventh.json?["detail"] as? String)?.contains("the most a card may be on (10)") == true, "\(eleventh.status)")
        // A device already on the card registers again (its token rotated): fine.
        #expect(try await server.send("POST", "\(a)/devices/phone-3/registrations/pass.dev.passline.tests/S1", body: #"{"pushToken":"0c"}"#, headers: auth).status == 200)
        // Twelve at once from this address, then one every 100 s: the thirteenth waits.
        let limited = try await server.send("POST", "\(a)/devices/phone-4/registrations/pass.dev.passline.tests/S1", body: #"{"pushToken":"0d"}"#, headers: auth)
        #expect(limited.status == 429 && limited.header("Retry-After") != nil && (limited.json?["detail"] as? String)?.contains("the limit is 12 at once") == true,
                "\(limited.status) \(String(decoding: limited.body, as: UTF8.self))")
        let registrations = try await server.database.withConnection { try $0.first("SELECT COUNT(*) AS n FROM registrations", [])!.int("n") }
        #expect(registrations == 10)
        await server.stop()
    }

    @Test("/metrics with PASSLINE_METRICS_TOKEN set answers only with the token")
    func metricsToken() async throws {
        let server = try await LiveServer.start(.sqlite) { $0.metricsToken = "metrics-secret-0123456789" }
        #expect(try await server.send("GET", "/metrics").status == 401)
        #expect(try await server.send("GET", "/metrics", headers: ["Authorization": "Bearer wrong-secret-0123456789"]).status == 401)
        let allowed = try await server.send("GET", "/metrics", headers: ["Authorization": "Bearer metrics-secret-0123456789"])
        #expect(allowed.status == 200 && String(decoding: allowed.body, as: UTF8.self).contains("passline_jobs"))
        #expect { try ServerConfiguration.resolve(environment: ["PASSLINE_METRICS_TOKEN": "short"]) } throws: { "\($0)".contains("at least 16") }
        #expect(try ServerConfiguration.resolve(environment: ["PASSLINE_METRICS_TOKEN": "metrics-secret-0123456789"]).metricsToken == "metrics-secret-0123456789")
        // Without a token, only this machine reads it (the LiveServer's own requests come from loopback).
        #expect(ServerConfiguration.isLoopback("127.0.0.1") && ServerConfiguration.isLoopback("::1") && !ServerConfiguration.isLoopback("10.0.0.1"))
        await server.stop()
    }

    @Test("bad bodies get a problem naming what is wrong", arguments: TestDatabase.available)
    func badInput(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let a = server.service(server.tenantA)
        let register = "\(a)/devices/phone-1/registrations/pass.dev.passline.tests/S1"
        let auth = ["Authorization": "ApplePass \(server.tokenA)"]

        let malformed = try await server.send("POST", register, body: "{\"pushToken\": ", headers: auth)
        #expect(malformed.status == 400)
        #expect((malformed.json?["detail"] as? String)?.contains("line 1") == true)
        let missing = try await server.send("POST", register, body: "{}", headers: auth)
        #expect(missing.status == 422)
        #expect(((missing.json?["errors"] as? [[String: String]])?.first)?["field"] == "pushToken")
        let wrongType = try await server.send("POST", register, body: #"{"pushToken": 42}"#, headers: auth)
        #expect(wrongType.status == 422)
        let huge = try await server.send("POST", register, bodyData: Data(repeating: UInt8(ascii: " "), count: 100_000), headers: auth)
        #expect(huge.status == 413)
        #expect(huge.contentType == "application/problem+json")
        let badTag = try await server.send("GET", "\(a)/devices/phone-1/registrations/pass.dev.passline.tests?passesUpdatedSince=yesterday")
        #expect(badTag.status == 400)
        #expect((badTag.json?["detail"] as? String)?.contains("passesUpdatedSince") == true)
        for tag in ["-1", "99999999999999999999", "1e3", "+5", "0x10"] {
            let reply = try await server.send("GET", "\(a)/devices/phone-1/registrations/pass.dev.passline.tests?passesUpdatedSince=\(tag)")
            #expect(reply.status == 400, "passesUpdatedSince=\(tag)")
        }
        // What Wallet never sends is named, on every route that takes it.
        let long = String(repeating: "d", count: 257)
        for (method, path, field) in [
            // (DELETE: Foundation's URLSession on Linux fails a POST to a path this long with -1103.)
            ("DELETE", "\(a)/devices/\(long)/registrations/pass.dev.passline.tests/S1", "deviceLibraryIdentifier"),
            ("POST", "\(a)/devices/ph%20one/registrations/pass.dev.passline.tests/S1", "deviceLibraryIdentifier"),
            ("DELETE", "\(a)/devices/ph%C3%B6ne/registrations/pass.dev.passline.tests/S1", "deviceLibraryIdentifier"),
            ("GET", "\(a)/devices/\(long)/registrations/pass.dev.passline.tests", "deviceLibraryIdentifier"),
            ("POST", "\(a)/devices/phone-1/registrations/pass%2Fx/S1", "passTypeIdentifier"),
            ("POST", "\(a)/devices/phone-1/registrations/pass.dev.passline.tests/S%001", "serialNumber"),
            ("GET", "\(a)/passes/pass.dev.passline.tests/\(String(repeating: "S", count: 129))", "serialNumber"),
        ] {
            let reply = try await server.send(method, path, body: method == "POST" ? #"{"pushToken":"0a"}"# : nil, headers: auth)
            #expect(reply.status == 400 && (reply.json?["detail"] as? String)?.hasPrefix(field) == true, "\(method) \(path.prefix(90)): \(reply.status)")
        }
        for token in ["zz", "0a 0b", String(repeating: "a", count: 201), ""] {
            let reply = try await server.send("POST", register, body: #"{"pushToken":"\#(token)"}"#, headers: auth)
            #expect(reply.status == 422 && ((reply.json?["errors"] as? [[String: String]])?.first)?["field"] == "pushToken", "\(token.prefix(20))")
        }
        let registrations = try await server.database.withConnection { try $0.first("SELECT COUNT(*) AS n FROM registrations", [])!.int("n") }
        #expect(registrations == 0)
        await server.stop()
    }

    @Test("devices' log messages are kept for their tenant, bounded; an unknown tenant is 404", arguments: TestDatabase.available)
    func logs(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let reply = try await server.send("POST", "\(server.service(server.tenantA))/log", body: #"{"logs":["Web service error: 500", "second"]}"#)
        #expect(reply.status == 200)
        let tenant = server.tenantA.id
        let kept = try await server.database.withConnection { try Devices.logs(tenant: tenant, limit: 10, on: $0).map(\.message) }
        #expect(kept == ["second", "Web service error: 500"])
        let other = server.tenantB.id
        #expect(try await server.database.withConnection { try Devices.logs(tenant: other, limit: 10, on: $0) }.isEmpty)
        // The tenant reads them through the partner API; another tenant sees none of them.
        let seen = try await server.send("GET", "/api/v1/device-logs?limit=5", headers: ["Authorization": "Bearer \(server.tenantA.liveKey)"])
        #expect((seen.json?["logs"] as? [[String: String]])?.map { $0["message"] } == ["second", "Web service error: 500"])
        let notSeen = try await server.send("GET", "/api/v1/device-logs", headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"])
        #expect((notSeen.json?["logs"] as? [Any])?.isEmpty == true)
        #expect(try await server.send("GET", "/api/v1/device-logs?limit=0", headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 400)
        #expect(try await server.send("POST", "/passkit/tn_unknown/v1/log", body: #"{"logs":["x"]}"#).status == 404)
        #expect(try await server.send("POST", "\(server.service(server.tenantA))/log", body: #"{"logs":"x"}"#).status == 422)
        // Bounded: only the newest 1000 stay.
        let many = "{\"logs\":[" + (0..<100).map { "\"m\($0)\"" }.joined(separator: ",") + "]}"
        for _ in 0..<11 { _ = try await server.send("POST", "\(server.service(server.tenantA))/log", body: many) }
        let count = try await server.database.withConnection { try $0.first("SELECT COUNT(*) AS n FROM device_logs WHERE tenant_id = ?", [.text(tenant)])!.int("n") }
        #expect(count == 1000)
        await server.stop()
    }

    @Test("the log endpoint is rate-limited per tenant: 429 with Retry-After once the burst is spent; other tenants are unaffected")
    func logRateLimit() async throws {
        // Refilling once in 1,000 s: the test does not depend on how fast this machine is.
        let server = try await LiveServer.start(.sqlite, deviceLogBurst: 5, deviceLogPerSecond: 0.001)
        var statuses: [Int] = []
        for _ in 0..<5 { statuses.append(try await server.send("POST", "\(server.service(server.tenantA))/log", body: #"{"logs":["x"]}"#).status) }
        #expect(statuses == [200, 200, 200, 200, 200])
        let limited = try await server.send("POST", "\(server.service(server.tenantA))/log", body: #"{"logs":["x"]}"#)
        #expect(limited.status == 429 && Int(limited.header("Retry-After") ?? "") ?? 0 >= 1)
        #expect(limited.contentType == "application/problem+json")
        #expect(try await server.send("POST", "\(server.service(server.tenantB))/log", body: #"{"logs":["x"]}"#).status == 200)
        await server.stop()
    }

    @Test("the log limiter refills at its rate and forgets idle keys beyond its capacity")
    func limiter() {
        let limiter = RateLimiter(burst: 3, perSecond: 2, capacity: 4)
        #expect((0..<3).map { _ in limiter.take("a", now: 100) } == [nil, nil, nil])
        #expect(limiter.take("a", now: 100) == 1)
        #expect(limiter.take("a", now: 100.5) == nil, "one token back after half a second")
        for key in 0..<10 { _ = limiter.take("k\(key)", now: 200) }
        #expect(limiter.take("a", now: 200) == nil)
    }

    @Test("/metrics shows jobs, cards and each tenant's days to certificate expiry", arguments: TestDatabase.available)
    func metrics(kind: TestDatabase) async throws {
        // Without a token, /metrics answers loopback callers only: a socket's address.
        let server = try await LiveServer.start(kind, wire: true)
        let reply = try await server.send("GET", "/metrics")
        #expect(reply.status == 200)
        let text = String(decoding: reply.body, as: UTF8.self)
        #expect(text.contains("passline_cards{mode=\"live\"} 2"))
        #expect(text.contains("passline_jobs{state=\"ready\"} 0"))
        #expect(text.contains("passline_signing_certificate_days_to_expiry{tenant=\"\(server.tenantA.id)\"} 36"))
        #expect(text.contains("passline_push_deliveries{outcome=\"delivered\"} 0") && !text.contains("passline_push_paused{"))
        try await server.database.withConnection { try Pushes.pause(tenant: server.tenantA.id, reason: "BadCertificate", now: 1, on: $0) }
        let paused = String(decoding: try await server.send("GET", "/metrics").body, as: UTF8.self)
        #expect(paused.contains("passline_push_paused{tenant=\"\(server.tenantA.id)\"} 1"))
        await server.stop()
    }

    @Test("configuration: flags over environment over defaults, and clear errors")
    func configuration() throws {
        let defaults = try ServerConfiguration.resolve(environment: [:])
        #expect(defaults.host == "127.0.0.1" && defaults.port == 8080 && defaults.publicURL == "http://127.0.0.1:8080" && defaults.adminToken == nil)
        let env = try ServerConfiguration.resolve(environment: ["PASSLINE_LISTEN": "0.0.0.0:9000", "PASSLINE_PUBLIC_URL": "https://cards.example.com/"])
        #expect(env.port == 9000 && env.publicURL == "https://cards.example.com")
        #expect(env.webServiceURL(tenant: "tn_1") == "https://cards.example.com/passkit/tn_1")
        #expect(try ServerConfiguration.resolve(listen: "[::1]:7000", environment: ["PASSLINE_LISTEN": "0.0.0.0:9000"]).host == "::1")
        #expect { try ServerConfiguration.resolve(listen: "8080", environment: [:]) } throws: { "\($0)".contains("--listen must be HOST:PORT") }
        #expect { try ServerConfiguration.resolve(environment: ["PASSLINE_PUBLIC_URL": "cards.example.com"]) } throws: { "\($0)".contains("PASSLINE_PUBLIC_URL") }
        #expect { try ServerConfiguration.resolve(environment: ["PASSLINE_ADMIN_TOKEN": "short"]) } throws: { "\($0)".contains("at least 16") }
        // The public URL is frozen into every pass: plain http only on loopback.
        for url in ["http://localhost:8080", "http://127.0.0.5:80", "http://[::1]:8080"] {
            #expect(try ServerConfiguration.resolve(environment: ["PASSLINE_PUBLIC_URL": url]).publicURL == url)
        }
        for url in ["http://cards.example.com", "http://10.0.0.2:8080", "http://127.0.0.1.example.com"] {
            #expect { try ServerConfiguration.resolve(environment: ["PASSLINE_PUBLIC_URL": url]) } throws: { "\($0)".contains("must be https:// unless its host is loopback") }
        }
        #expect { try ServerConfiguration.resolve(environment: ["PASSLINE_LISTEN": "0.0.0.0:9000"]) } throws: { "\($0)".contains("PASSLINE_LISTEN 0.0.0.0:9000") }
    }
}
