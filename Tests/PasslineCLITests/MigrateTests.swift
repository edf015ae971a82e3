import Foundation
import PasslineCrypto
import PasslineDatabase
import PasslineStore
import PasslineTestSupport
import Testing

@Suite("passline migrate and PASSLINE_DATABASE_URL")
struct MigrateTests {
    @Test("URLs name their driver; anything else is refused with the accepted forms")
    func parsing() throws {
        #expect(try DatabaseURL(parsing: "sqlite:./var/x.sqlite") == .sqlite(path: "./var/x.sqlite"))
        #expect(try DatabaseURL(parsing: "sqlite:///tmp/x.sqlite") == .sqlite(path: "/tmp/x.sqlite"))
        #expect(try DatabaseURL(parsing: "postgres://u@h/db") == .postgres(conninfo: "postgres://u@h/db"))
        #expect(try DatabaseURL(parsing: "postgresql://u@h/db") == .postgres(conninfo: "postgresql://u@h/db"))
        #expect(try DatabaseURL(parsing: "host=/tmp dbname=x") == .postgres(conninfo: "host=/tmp dbname=x"))
        #expect(try DatabaseURL.fromEnvironment([:]) == .default)
        #expect(throws: DatabaseURLError.self) { try DatabaseURL(parsing: "mysql://x") }
        #expect(throws: DatabaseURLError.self) { try DatabaseURL(parsing: "sqlite:") }
    }

    @Test("passwords never show in messages")
    func redaction() throws {
        #expect(try DatabaseURL(parsing: "postgresql://bob:s3cret@db/passline").description == "postgresql://bob:***@db/passline")
        #expect(try DatabaseURL(parsing: "host=db password=s3cret dbname=x").description == "host=db password=*** dbname=x")
        #expect(!(try DatabaseURL(parsing: "postgres://a:'b c'@h/d").description.contains("b c")))
    }

    @Test("migrate creates the SQLite file, then finds nothing to do", arguments: TestDatabase.available)
    func migrate(kind: TestDatabase) async throws {
        let folder = TestSupport.temporaryFolder()
        var environment: [String: String] = [:]
        if kind == .postgres { environment["PASSLINE_DATABASE_URL"] = try await TestDatabase.freshSchema() }
        let first = try await TestSupport.run(TestSupport.passlineExecutable, ["migrate"], environment: environment, in: folder)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("applied 1 (initial schema), 2 (push deliveries)"), "\(first.stdout)")
        let again = try await TestSupport.run(TestSupport.passlineExecutable, ["migrate"], environment: environment, in: folder)
        #expect(again.stdout.contains("schema up to date (version \(Schema.migrations.last!.version))"), "\(again.stdout)")
        if kind == .sqlite {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("var/passline.sqlite").path))
        }
    }

    @Test("an unreachable database is one clear error, exit 1")
    func unreachable() async throws {
        let result = try await TestSupport.run(TestSupport.passlineExecutable, ["migrate"],
                                         environment: ["PASSLINE_DATABASE_URL": "postgresql://bob:s3cret@/x?host=/nonexistent"], in: TestSupport.temporaryFolder())
        #expect(result.status == 1)
        #expect(result.stderr.contains("Cannot connect to PostgreSQL"))
        #expect(!result.stderr.contains("s3cret"))
    }
}

@Suite("passline tenant")
struct TenantCommandTests {
    @Test("tenant create --json prints the fields INTERFACE.md names; a mismatched identity exits 1", arguments: TestDatabase.available)
    func create(kind: TestDatabase) async throws {
        let folder = TestSupport.temporaryFolder()
        let bin = TestSupport.passlineExecutable
        var environment: [String: String] = [:]
        if kind == .postgres { environment["PASSLINE_DATABASE_URL"] = try await TestDatabase.freshSchema() }
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.cli", "--team-id", "CLITEAM001"], in: folder)
        let result = try await TestSupport.run(bin, ["tenant", "create", "--name", "Lumen Clinic", "--pass-type-id", "pass.dev.cli", "--team-id", "CLITEAM001",
                                               "--identity", "id", "--json"], environment: environment, in: folder)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: String]
        #expect(Set(json.keys) == ["id", "name", "passTypeIdentifier", "liveKey", "testKey"])
        #expect(json["name"] == "Lumen Clinic")
        #expect(json["passTypeIdentifier"] == "pass.dev.cli")
        #expect(json["liveKey"]!.hasPrefix("pl_live_") && json["testKey"]!.hasPrefix("pl_test_"))

        let key = try await TestSupport.run(bin, ["tenant", "key", "create", "--tenant", json["id"]!, "--mode", "test"], environment: environment, in: folder)
        #expect(key.status == 0 && key.stdout.hasPrefix("pl_test_"), "\(key.stderr)")
        let revoke = try await TestSupport.run(bin, ["tenant", "key", "revoke", "--tenant", json["id"]!, "--key", json["liveKey"]!], environment: environment, in: folder)
        #expect(revoke.status == 0, "\(revoke.stderr)")
        let again = try await TestSupport.run(bin, ["tenant", "key", "revoke", "--tenant", json["id"]!, "--key", json["liveKey"]!], environment: environment, in: folder)
        #expect(again.status == 1 && again.stderr.contains("has no active key"))

        let mismatch = try await TestSupport.run(bin, ["tenant", "create", "--name", "X", "--pass-type-id", "pass.other", "--team-id", "CLITEAM001", "--identity", "id"],
                                           environment: environment, in: folder)
        #expect(mismatch.status == 1)
        #expect(mismatch.stderr.contains("--pass-type-id is pass.other but the certificate in id is for pass.dev.cli"))

        // A renewed certificate replaces the identity; one for another pass type cannot.
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "renewed", "--pass-type-id", "pass.dev.cli", "--team-id", "CLITEAM001"], in: folder)
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "other", "--pass-type-id", "pass.other", "--team-id", "CLITEAM001"], in: folder)
        let replaced = try await TestSupport.run(bin, ["tenant", "identity", "set", "--tenant", json["id"]!, "--identity", "renewed"], environment: environment, in: folder)
        #expect(replaced.status == 0 && replaced.stdout.contains("expires in 364 days"), "\(replaced.stderr)")
        let refused = try await TestSupport.run(bin, ["tenant", "identity", "set", "--tenant", json["id"]!, "--identity", "other"], environment: environment, in: folder)
        #expect(refused.status == 1 && refused.stderr.contains("replacement must be a certificate for pass.dev.cli"), "\(refused.stderr)")
        let show = try await TestSupport.run(bin, ["tenant", "show", "--tenant", json["id"]!, "--json"], environment: environment, in: folder)
        let shown = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as! [String: Any]
        let renewed = try Certificate.loadPEM(Array(try Data(contentsOf: folder.appendingPathComponent("renewed/certificate.pem"))))[0]
        #expect(shown["certificateFingerprint"] as? String == renewed.fingerprintSHA256 && shown["daysToExpiry"] as? Int == 364)
        let unknown = try await TestSupport.run(bin, ["tenant", "identity", "set", "--tenant", "tn_nope", "--identity", "renewed"], environment: environment, in: folder)
        #expect(unknown.status == 1 && unknown.stderr.contains("tn_nope does not exist"))
    }
}
