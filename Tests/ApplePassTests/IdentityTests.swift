import ApplePass
import Foundation
import PasslineCrypto
import PasslineTestSupport
import Testing

@Suite("Signing identities")
struct IdentityTests {
    let identity = TestSupport.identity

    func message(_ body: () throws -> PassSigningIdentity) -> String? {
        do {
            _ = try body()
            return nil
        } catch let error as PassError {
            #expect(error.code == .invalidIdentity)
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test("a good identity takes its identifiers from the certificate")
    func good() throws {
        let loaded = try PassSigningIdentity(certificate: identity.certificate, key: identity.key, intermediates: [identity.intermediate])
        #expect(loaded.passTypeIdentifier == "pass.dev.passline.tests")
        #expect(loaded.teamIdentifier == "TESTTEAM01")
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.daysToExpiry() >= 363)
    }

    @Test("the wrong key is named")
    func wrongKey() {
        let text = message { try PassSigningIdentity(certificate: identity.certificate, key: TestSupport.otherIdentity.key, intermediates: [identity.intermediate]) }
        #expect(text?.contains("is not the private key of") == true)
    }

    @Test("an expired certificate is refused; one ending within a month is a warning")
    func expiry() throws {
        let expired = try DevelopmentIdentity.generate(passTypeIdentifier: "pass.dev.old", teamIdentifier: "OLDTEAM001", validFrom: Date().addingTimeInterval(-400 * 86_400), validDays: 365)
        #expect(message { try expired.signingIdentity() }?.contains("expired on") == true)
        let ending = try DevelopmentIdentity.generate(passTypeIdentifier: "pass.dev.soon", teamIdentifier: "SOONTEAM01", validDays: 10)
        #expect(try ending.signingIdentity().warnings.contains { $0.contains("expires in") })
    }

    @Test("an intermediate that did not issue the certificate is refused, naming the G1/G4 mix-up")
    func wrongIntermediate() {
        let text = message { try PassSigningIdentity(certificate: identity.certificate, key: identity.key, intermediates: [TestSupport.otherIdentity.intermediate]) }
        #expect(text?.contains("None of the intermediates") == true)
        #expect(text?.contains("G4") == true)
        #expect(message { try PassSigningIdentity(certificate: identity.certificate, key: identity.key, intermediates: []) }?.contains("WWDR") == true)
    }

    @Test("given several intermediates, the one that issued the certificate is chosen")
    func picksIssuer() throws {
        let loaded = try PassSigningIdentity(certificate: identity.certificate, key: identity.key,
                                             intermediates: [TestSupport.otherIdentity.intermediate, identity.root, identity.intermediate])
        #expect(loaded.intermediate.isSame(as: identity.intermediate))
    }

    @Test("a certificate without UID or OU is not a Pass Type ID certificate")
    func notPassType() throws {
        let key = try PrivateKey.generateRSA()
        let root = try PrivateKey.generateRSA()
        let ca = try CertificateIssuer.issue(subject: DistinguishedName([("CN", "CA")]), subjectKey: root, issuer: nil,
                                             validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400), profile: .authority(pathLength: 0))
        let plain = try CertificateIssuer.issue(subject: DistinguishedName([("CN", "www.example.com"), ("OU", "TEAM")]), subjectKey: key, issuer: (ca, root),
                                                validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400),
                                                profile: .signer(extendedKeyUsages: [], extraExtensions: []))
        #expect(message { try PassSigningIdentity(certificate: plain, key: key, intermediates: [ca]) }?.contains("no UID") == true)
    }

    @Test("a folder loads; missing or damaged files are named")
    func folder() throws {
        let folder = TestSupport.temporaryFolder()
        try identity.write(to: folder)
        let permissions = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("private-key.pem").path)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
        #expect(try PassSigningIdentity.load(directory: folder).passTypeIdentifier == "pass.dev.passline.tests")

        TestSupport.write(Array("garbage".utf8), to: folder.appendingPathComponent("wwdr.pem"))
        #expect { try PassSigningIdentity.load(directory: folder) } throws: { "\($0)".contains("wwdr.pem") }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("certificate.pem"))
        #expect { try PassSigningIdentity.load(directory: folder) } throws: { "\($0)".contains("certificate.pem does not exist") }
    }

    @Test("a .p12 with the wrong password is named; the right one loads")
    func p12() async throws {
        let folder = TestSupport.temporaryFolder()
        try identity.write(to: folder)
        let result = try await TestSupport.run("openssl", ["pkcs12", "-export", "-in", "certificate.pem", "-inkey", "private-key.pem", "-passout", "pass:right", "-out", "id.p12"], in: folder)
        #expect(result.status == 0, "\(result.stderr)")
        let p12 = folder.appendingPathComponent("id.p12"), wwdr = folder.appendingPathComponent("wwdr.pem")
        #expect(try PassSigningIdentity.load(p12: p12, password: "right", wwdr: wwdr).teamIdentifier == "TESTTEAM01")
        #expect { try PassSigningIdentity.load(p12: p12, password: "wrong", wwdr: wwdr) } throws: { "\($0)".contains("password does not open") }
    }
}
