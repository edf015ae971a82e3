import Foundation
import GoogleWallet
import Logging
import Hummingbird
import PasslineServer
import PasslineService
import PasslineSQLite
import PasslineTestSupport
import PasslineCrypto
import Testing

/// Google's keys are never fetched here: the routes are only listed.
struct NoGoogleKeys: GoogleRootKeySource {
    func rootKeys(refresh: Bool) async throws -> WalletCallback.RootKeys { throw CancellationError() }
}

@Suite("The OpenAPI document")
struct OpenAPITests {
    /// (method, path) of every partner and Apple web-service route the router registers, in OpenAPI's `{param}` form.
    func registeredRoutes() throws -> Set<String> {
        let database = try SQLiteDatabase(path: ":memory:")
        let tenants = Tenants(database: database, secrets: try SecretBox(key: SecretBox.generateKey()))
        let templates = Templates(database: database)
        let services = Services(tenants: tenants, templates: templates,
                                cards: Cards(database: database, templates: templates, tenants: tenants, publicURL: "https://x"), jobs: .init(database: database),
                                logger: Logger(label: "test"), googleKeys: NoGoogleKeys())
        let router = buildRouter(services: services, configuration: try ServerConfiguration.resolve(environment: [:]))
        return Set(router.routes.compactMap { route -> String? in
            let path = "/" + route.path.description.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            return path.hasPrefix("/api/v1") || path.hasPrefix("/passkit") || path.hasPrefix("/google") ? "\(route.method.rawValue) \(path)" : nil
        })
    }

    func documentedRoutes() throws -> Set<String> {
        let document = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.bytes)) as! [String: Any]
        let paths = document["paths"] as! [String: [String: Any]]
        return Set(paths.flatMap { path, operations in
            operations.keys.filter { ["get", "post", "put", "patch", "delete"].contains($0) }.map { "\($0.uppercased()) \(path)" }
        })
    }

    @Test("documents exactly the partner routes the router serves")
    func matchesRoutes() throws {
        let registered = try registeredRoutes(), documented = try documentedRoutes()
        #expect(registered.subtracting(documented).isEmpty, "served but not documented: \(registered.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "documented but not served: \(documented.subtracting(registered).sorted())")
        #expect(registered.count >= 8)
        #expect(registered.contains("GET /passkit/{tenant}/v1/passes/{passTypeIdentifier}/{serialNumber}"))
    }

    @Test("is a valid OpenAPI 3.1 document (openapi-spec-validator)")
    func valid() async throws {
        let file = TestSupport.temporaryFolder().appendingPathComponent("openapi.json")
        try Data(OpenAPIDocument.bytes).write(to: file)
        let script = "import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('ok')"
        let result = try await TestSupport.run("python3", ["-c", script, file.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "ok\n")
    }

    @Test("is served at /openapi.json, without a key")
    func served() async throws {
        let server = try await LiveServer.start(.sqlite)
        let reply = try await server.send("GET", "/openapi.json")
        #expect(reply.status == 200)
        #expect([UInt8](reply.body) == OpenAPIDocument.bytes)
        await server.stop()
    }
}
