import ApplePass
import Foundation
import LoyaltyRules
import PasslineCrypto
import PasslineSQL
import PasslineService
import PasslineStore
import PasslineTestSupport
import Testing

@Suite("Tenants")
struct TenantTests {
    func tenants(_ kind: TestDatabase) async throws -> Tenants {
        let database = try await kind.make()
        try await Migrator.migrate(database)
        return Tenants(database: database, secrets: try SecretBox(key: SecretBox.generateKey()))
    }

    @Test("creating a tenant stores its identity sealed and its keys hashed; the keys authenticate", arguments: TestDatabase.available)
    func create(kind: TestDatabase) async throws {
        let tenants = try await tenants(kind)
        let created = try await tenants.create(name: "Lumen Clinic", identity: try TestSupport.identity.signingIdentity())
        #expect(created.id.hasPrefix("tn_"))
        #expect(created.passTypeIdentifier == "pass.dev.passline.tests")
        #expect(created.liveKey.hasPrefix("pl_live_") && created.testKey.hasPrefix("pl_test_"))

        let liveKey = created.liveKey, testKey = created.testKey
        let leaked = try await tenants.database.withConnection { connection -> Bool in
            let keys = try connection.query("SELECT prefix, key_hash FROM api_keys", [])
            let identity = try connection.first("SELECT private_key_encrypted FROM signing_identities", [])!
            let sealed = String(decoding: try identity.blob("private_key_encrypted"), as: UTF8.self)
            return try keys.contains { try $0.string("prefix") == liveKey || String(decoding: try $0.blob("key_hash"), as: UTF8.self).contains(liveKey) }
                || sealed.contains("PRIVATE KEY")
        }
        #expect(!leaked, "a key or the private key is stored in the clear")

        #expect(try await tenants.authenticate(key: liveKey)! == (created.id, CardMode.live))
        #expect(try await tenants.authenticate(key: testKey)! == (created.id, CardMode.test))
        #expect(try await tenants.authenticate(key: "pl_live_" + String(repeating: "x", count: 32)) == nil)
        #expect(try await tenants.authenticate(key: "garbage") == nil)

        // The stored identity comes back whole and still signs.
        let identity = try await tenants.signingIdentity(tenant: created.id)
        #expect(identity.teamIdentifier == "TESTTEAM01")
        let signature = try identity.sign([1, 2, 3])
        #expect(try DetachedSignatureCheck.check(signature: signature, content: [1, 2, 3], trustAnchors: [TestSupport.identity.root]).signatureValid)
        await tenants.database.close()
    }

    @Test("a revoked key stops working; another tenant's key cannot be revoked through this one", arguments: TestDatabase.available)
    func keys(kind: TestDatabase) async throws {
        let tenants = try await tenants(kind)
        let a = try await tenants.create(name: "A", identity: try TestSupport.identity.signingIdentity())
        let b = try await tenants.create(name: "B", identity: try TestSupport.identity.signingIdentity())
        let extra = try await tenants.createKey(tenant: a.id, mode: .test)
        #expect(try await tenants.authenticate(key: extra)?.tenant == a.id)
        await #expect(throws: DomainError.self) { try await tenants.revokeKey(tenant: a.id, key: b.liveKey) }
        #expect(try await tenants.authenticate(key: b.liveKey)?.tenant == b.id)
        try await tenants.revokeKey(tenant: a.id, key: String(extra.prefix(12)))
        #expect(try await tenants.authenticate(key: extra) == nil)
        #expect(try await tenants.authenticate(key: a.liveKey)?.tenant == a.id)
        await #expect(throws: DomainError.self) { try await tenants.createKey(tenant: "tn_nope", mode: .live) }
        // A mode other than live or test cannot be asked for: `CardMode` has no third case. The
        // admin API and the command line refuse one (AdminAPITests, CommandLineTests).
        await tenants.database.close()
    }
}

@Suite("Master key")
struct MasterKeyTests {
    @Test("from the environment, from a file, or made once under ./var with mode 0600 and a warning")
    func loading() throws {
        let key = Data(SecretBox.generateKey()).base64EncodedString()
        _ = try MasterKey.load(environment: ["PASSLINE_MASTER_KEY": key]) { _ in Issue.record("warned") }
        #expect { try MasterKey.load(environment: ["PASSLINE_MASTER_KEY": "not base64!"]) { _ in } } throws: { "\($0)".contains("PASSLINE_MASTER_KEY is not base64") }
        #expect { try MasterKey.load(environment: ["PASSLINE_MASTER_KEY": Data([1, 2]).base64EncodedString()]) { _ in } } throws: { "\($0)".contains("holds 2 bytes") }

        let folder = TestSupport.temporaryFolder()
        let file = folder.appendingPathComponent("master.key")
        #expect { try MasterKey.load(environment: ["PASSLINE_MASTER_KEY_FILE": file.path]) { _ in } } throws: { "\($0)".contains("does not exist") }
        try Data(key.utf8).write(to: file)
        let fromFile = try MasterKey.load(environment: ["PASSLINE_MASTER_KEY_FILE": file.path]) { _ in Issue.record("warned") }
        let sealed = try fromFile.seal([7], context: "c")
        #expect(try MasterKey.load(environment: ["PASSLINE_MASTER_KEY": key]) { _ in }.open(sealed, context: "c") == [7])

        let defaultFile = folder.appendingPathComponent("var/master.key").path
        var warnings: [String] = []
        let made = try MasterKey.load(environment: [:], defaultFile: defaultFile) { warnings.append($0) }
        #expect(warnings.count == 1 && warnings[0].contains("back it up"))
        let mode = try FileManager.default.attributesOfItem(atPath: defaultFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try MasterKey.load(environment: [:], defaultFile: defaultFile) { _ in Issue.record("warned twice") }
        #expect(try again.open(try made.seal([9], context: "c"), context: "c") == [9])
    }

    @Test("a store remembers its key: another key, or none, refuses to start and says which key it expects", arguments: TestDatabase.available)
    func storeCheck(kind: TestDatabase) async throws {
        let database = try await kind.make()
        try await Migrator.migrate(database)
        let folder = TestSupport.temporaryFolder()
        let defaultFile = folder.appendingPathComponent("var/master.key").path
        // First start: no key anywhere, an empty store: a key is made, and the store notes it.
        var warnings: [String] = []
        let made = try await MasterKey.open(database: database, environment: [:], defaultFile: defaultFile) { warnings.append($0) }
        #expect(warnings.count == 1)
        let keyText = try String(contentsOfFile: defaultFile, encoding: .utf8)
        let fingerprint = MasterKey.fingerprint([UInt8](Data(base64Encoded: keyText.trimmingCharacters(in: .whitespacesAndNewlines))!))
        #expect(warnings[0].contains(fingerprint))
        let tenants = Tenants(database: database, secrets: made)
        _ = try await tenants.create(name: "Lumen", identity: try TestSupport.identity.signingIdentity())
        // The same key again, from the file or the variable: fine.
        _ = try await MasterKey.open(database: database, environment: [:], defaultFile: defaultFile) { _ in Issue.record("warned") }
        _ = try await MasterKey.open(database: database, environment: ["PASSLINE_MASTER_KEY": keyText], defaultFile: "/nonexistent") { _ in }
        // Another key: refused, naming both keys and where this one came from.
        let other = Data(SecretBox.generateKey()).base64EncodedString()
        await #expect { try await MasterKey.open(database: database, environment: ["PASSLINE_MASTER_KEY": other], defaultFile: defaultFile) { _ in } } throws: {
            "\($0)".contains("PASSLINE_MASTER_KEY") && "\($0)".contains("(\(fingerprint))") && "\($0)".contains("is not the one")
        }
        // The key file lost: no new key is made over a store with secrets.
        try FileManager.default.removeItem(atPath: defaultFile)
        await #expect { try await MasterKey.open(database: database, environment: [:], defaultFile: defaultFile) { _ in } } throws: {
            "\($0)".contains("no master key was found") && "\($0)".contains(fingerprint) && "\($0)".contains(defaultFile)
        }
        #expect(!FileManager.default.fileExists(atPath: defaultFile))
        // A store from before the check, with a secret sealed by another key: refused too.
        try await database.withConnection { _ = try $0.execute("DELETE FROM master_key_check", []) }
        await #expect { try await MasterKey.open(database: database, environment: ["PASSLINE_MASTER_KEY": other], defaultFile: defaultFile) { _ in } } throws: {
            "\($0)".contains("does not open the store's sealed secrets")
        }
        await #expect { try await MasterKey.open(database: database, environment: [:], defaultFile: defaultFile) { _ in } } throws: {
            "\($0)".contains("holds sealed secrets")
        }
        _ = try await MasterKey.open(database: database, environment: ["PASSLINE_MASTER_KEY": keyText], defaultFile: defaultFile) { _ in }
        await database.close()
    }
}
