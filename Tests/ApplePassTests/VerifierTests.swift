import ApplePass
import Foundation
import PasslineCrypto
import PasslineJSON
import PasslineTestSupport
import Testing

@Suite("Verifying passes")
struct VerifierTests {
    func goodPass(_ card: CardData = sampleCard) throws -> [UInt8] {
        try builder().build(template: try PassTemplate.load(folder: TestSupport.template("loyalty")), card: card)
    }

    func findings(_ pass: [UInt8], anchors: [Certificate]? = [TestSupport.identity.root]) -> [PassFinding] {
        PassVerifier.verify(pass, trustAnchors: anchors).findings
    }

    @Test("an edited pass.json no longer matches the manifest")
    func tamperedPassJSON() throws {
        var files = try unzip(try goodPass())
        files["pass.json"] = Array(String(decoding: files["pass.json"]!, as: UTF8.self).replacingOccurrences(of: "1250", with: "9999").utf8)
        let found = findings(try zip(files))
        #expect(found.errors.contains { $0.file == "pass.json" && $0.message.contains("does not match its SHA-1") })
    }

    @Test("a file not in the manifest is an error; so is a manifest entry with no file")
    func unlistedFiles() throws {
        var files = try unzip(try goodPass())
        files["extra.png"] = files["icon.png"]
        files["logo.png"] = nil
        let found = findings(try zip(files))
        #expect(found.errors.contains { $0.file == "extra.png" && $0.message.contains("not in manifest.json") })
        #expect(found.errors.contains { $0.field == "logo.png" && $0.message.contains("does not hold") })
    }

    @Test("missing signature, manifest or icon are each named")
    func missingParts() throws {
        var files = try unzip(try goodPass())
        files["signature"] = nil
        files["icon.png"] = nil
        let found = findings(try zip(files))
        #expect(found.errors.contains { $0.file == "signature" && $0.message == "is missing" })
        #expect(found.errors.contains { $0.file == "icon.png" })
    }

    @Test("another root does not anchor the chain; without --ca the chain is a warning")
    func chain() throws {
        let pass = try goodPass()
        #expect(findings(pass, anchors: [TestSupport.otherIdentity.root]).errors.contains { $0.message.contains("does not chain") })
        #expect(findings(pass, anchors: [TestSupport.identity.intermediate]).errors.isEmpty)
        let unchecked = findings(pass, anchors: nil)
        #expect(unchecked.errors.isEmpty)
        #expect(unchecked.warnings.contains { $0.message.contains("chain not checked") })
    }

    @Test("a signer that is not the pass's pass type or team is caught")
    func signerMismatch() throws {
        var files = try unzip(try goodPass())
        var json = try JSONParser.parse(files["pass.json"]!).objectValue!
        json["passTypeIdentifier"] = .string("pass.com.someone.else")
        json["teamIdentifier"] = .string("OTHER")
        files["pass.json"] = JSONWriter.bytes(.object(json))
        var manifest = try JSONParser.parse(files["manifest.json"]!).objectValue!
        manifest["pass.json"] = .string(Digest.hex(Digest.sha1(files["pass.json"]!)))
        files["manifest.json"] = JSONWriter.bytes(.object(manifest))
        // Re-sign the new manifest with the same identity so that only the identifiers differ.
        let signer = try DetachedSigner(certificate: TestSupport.identity.certificate, key: TestSupport.identity.key, intermediates: [TestSupport.identity.intermediate])
        files["signature"] = try signer.sign(files["manifest.json"]!)
        let found = findings(try zip(files))
        #expect(found.errors.contains { $0.message.contains("passTypeIdentifier is \"pass.com.someone.else\"") })
        #expect(found.errors.contains { $0.message.contains("teamIdentifier is \"OTHER\"") })
    }

    @Test("a signature without the intermediate is caught")
    func missingIntermediate() throws {
        var files = try unzip(try goodPass())
        let signer = try DetachedSigner(certificate: TestSupport.identity.certificate, key: TestSupport.identity.key, intermediates: [])
        files["signature"] = try signer.sign(files["manifest.json"]!)
        #expect(findings(try zip(files), anchors: nil).errors.contains { $0.message.contains("does not include the intermediate") })
    }

    @Test("plain http is a warning; a short token is an error")
    func webService() throws {
        var card = sampleCard
        card.webServiceURL = "http://127.0.0.1:8080/passkit/t1"
        let found = findings(try goodPass(card))
        #expect(found.errors.isEmpty)
        #expect(found.warnings.contains { $0.field == "webServiceURL" && $0.message.contains("Allow HTTP Services") })

        var files = try unzip(try goodPass())
        var json = try JSONParser.parse(files["pass.json"]!).objectValue!
        json["authenticationToken"] = .string("short")
        files["pass.json"] = JSONWriter.bytes(.object(json))
        #expect(findings(try zip(files)).errors.contains { $0.field == "authenticationToken" && $0.message.contains("at least 16") })
    }

    @Test("a file that is not a zip gets one clear finding")
    func notAZip() {
        let found = findings(Array("not a pass".utf8))
        #expect(found.count == 1)
        #expect(found[0].message.contains("not a zip archive"))
    }

    @Test("an image that is not a PNG is named")
    func notPNG() throws {
        var files = try unzip(try goodPass())
        files["logo.png"] = Array("GIF89a".utf8)
        #expect(findings(try zip(files)).errors.contains { $0.file == "logo.png" && $0.message.contains("not a PNG") })
    }
}
