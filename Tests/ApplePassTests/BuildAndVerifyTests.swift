import ApplePass
import Foundation
import PasslineCrypto
import PasslineJSON
import PasslineTestSupport
import Testing

@Suite("Building and verifying passes")
struct BuildAndVerifyTests {
    @Test("each shipped template builds a pass that verifies and that openssl verifies independently", arguments: ["loyalty", "membership"])
    func roundTrip(name: String) async throws {
        let template = try PassTemplate.load(folder: TestSupport.template(name))
        #expect(template.warnings.isEmpty, "\(template.warnings)")
        let pass = try builder().build(template: template, card: sampleCard)

        let result = PassVerifier.verify(pass, trustAnchors: [TestSupport.identity.root])
        #expect(result.isValid, "\(result.findings)")
        #expect(result.findings.isEmpty, "\(result.findings)")

        let files = try unzip(pass)
        let folder = TestSupport.temporaryFolder()
        for (file, bytes) in files { TestSupport.write(bytes, to: folder.appendingPathComponent(file)) }
        TestSupport.write(TestSupport.identity.root.pemBytes, to: folder.appendingPathComponent("root.pem"))
        let openssl = try await TestSupport.run("openssl", ["smime", "-verify", "-binary", "-inform", "DER", "-in", "signature", "-content", "manifest.json",
                                                      "-CAfile", "root.pem", "-purpose", "any", "-out", "/dev/null"], in: folder)
        #expect(openssl.status == 0, "\(openssl.stderr)")

        // The manifest lists every file, localizations included, with its SHA-1.
        let manifest = try foundationJSON(files["manifest.json"]!) as! [String: String]
        #expect(Set(manifest.keys) == Set(files.keys).subtracting(["manifest.json", "signature"]))
        #expect(manifest.keys.contains { $0.hasSuffix(".lproj/pass.strings") })
        for (file, hash) in manifest { #expect(Digest.hex(Digest.sha1(files[file]!)) == hash, "\(file)") }
    }

    @Test("pass.json carries the identity, the card and its web service; points stay a number")
    func renderedValues() throws {
        let template = try PassTemplate.load(folder: TestSupport.template("loyalty"))
        let json = try foundationJSON(try unzip(try builder().build(template: template, card: sampleCard))["pass.json"]!)
        #expect(json["passTypeIdentifier"] as? String == "pass.dev.passline.tests")
        #expect(json["teamIdentifier"] as? String == "TESTTEAM01")
        #expect(json["serialNumber"] as? String == "LUM-0001")
        #expect(json["authenticationToken"] as? String == "0123456789abcdef0123")
        #expect(json["webServiceURL"] as? String == "https://passline.example/passkit/t1")
        let card = json["storeCard"] as! [String: Any]
        let points = (card["primaryFields"] as! [[String: Any]])[0]
        #expect(points["value"] as? Int == 1250)
        #expect(points["changeMessage"] as? String == "You now have %@ points")
        let barcode = (json["barcodes"] as! [[String: Any]])[0]
        #expect(barcode["message"] as? String == "M-100200")
        #expect(barcode["messageEncoding"] as? String == "iso-8859-1")
        #expect(json["voided"] == nil)
    }

    @Test("a member name full of quotes, newlines, backslashes and emoji stays valid JSON and comes back unchanged")
    func hostileName() throws {
        let name = "Zoë \"Zee\" O'Brien 🌸\\n\n</script>{{tier}}\u{0}\u{202E}"
        var card = sampleCard
        card.values["memberName"] = .string(name)
        card.values["memberId"] = .string("ID \"1\"\n")
        let template = try PassTemplate.load(folder: TestSupport.template("loyalty"))
        let pass = try builder().build(template: template, card: card)
        let json = try foundationJSON(try unzip(pass)["pass.json"]!)
        let secondary = ((json["storeCard"] as! [String: Any])["secondaryFields"] as! [[String: Any]])[0]
        #expect(secondary["value"] as? String == name)
        #expect(((json["barcodes"] as! [[String: Any]])[0])["message"] as? String == "ID \"1\"\n")
        #expect(PassVerifier.verify(pass, trustAnchors: [TestSupport.identity.root]).isValid)
    }

    @Test("a missing value is an error naming it; the default fills an optional one")
    func missingValue() throws {
        let template = try PassTemplate.load(folder: TestSupport.template("loyalty"))
        var card = sampleCard
        card.values["memberName"] = nil
        card.values["tier"] = nil
        do {
            _ = try builder().build(template: template, card: card)
            Issue.record("built without memberName")
        } catch let error as PassError {
            #expect(error.code == .invalidCardData)
            #expect(error.message.contains("memberName is required"))
            #expect(!error.message.contains("tier"))
        }
        card.values["memberName"] = .string("Ada")
        let json = try foundationJSON(try unzip(try builder().build(template: template, card: card))["pass.json"]!)
        let header = ((json["storeCard"] as! [String: Any])["headerFields"] as! [[String: Any]])[0]
        #expect(header["value"] as? String == "Member")
    }

    @Test("values of the wrong type are named", arguments: [
        ("points", JSONValue.string("lots"), "points must be an integer"),
        ("points", JSONValue.double(1.5), "points must be an integer"),
        ("memberName", JSONValue.int(7), "memberName must be a string"),
        ("memberId", JSONValue.array([]), "memberId must be a single value"),
    ])
    func wrongTypes(key: String, value: JSONValue, message: String) throws {
        let template = try PassTemplate.load(folder: TestSupport.template("loyalty"))
        var card = sampleCard
        card.values[key] = value
        #expect { try builder().build(template: template, card: card) } throws: { error in
            (error as? PassError)?.message.contains(message) == true
        }
    }

    @Test("card data reads from JSON, with voided and expirationDate going into the pass")
    func cardDataKeys() throws {
        let json = try JSONParser.parse(#"{"serialNumber":"S-1","memberId":"M","memberName":"N","points":3,"voided":true,"expirationDate":"2027-01-31T23:59:00+01:00"}"#)
        let card = try CardData(json: json)
        let template = try PassTemplate.load(folder: TestSupport.template("loyalty"))
        let pass = try builder().build(template: template, card: card)
        let rendered = try foundationJSON(try unzip(pass)["pass.json"]!)
        #expect(rendered["voided"] as? Bool == true)
        #expect(rendered["expirationDate"] as? String == "2027-01-31T23:59:00+01:00")
        #expect(rendered["webServiceURL"] == nil)
        #expect(rendered["authenticationToken"] == nil)
        #expect(PassVerifier.verify(pass, trustAnchors: [TestSupport.identity.root]).isValid)
    }

    @Test("bad card data is named", arguments: [
        (#"[]"#, "must be a JSON object"),
        (#"{"memberId":"M"}"#, "serialNumber is required"),
        (#"{"serialNumber":5}"#, "serialNumber must be a string"),
        (#"{"serialNumber":"S","voided":"yes"}"#, "voided must be true or false"),
    ])
    func badCardJSON(text: String, message: String) throws {
        #expect { try CardData(json: try JSONParser.parse(text)) } throws: { error in
            (error as? PassError)?.message.contains(message) == true
        }
    }

    @Test("the builder's own keys are checked", arguments: [
        (CardData(serialNumber: "a/b"), "serialNumber must not contain '/'"),
        (CardData(serialNumber: ""), "serialNumber must be 1 to 128"),
        (CardData(serialNumber: "S", authenticationToken: "short", webServiceURL: "https://x"), "at least 16 characters"),
        (CardData(serialNumber: "S", authenticationToken: "0123456789abcdef"), "give both or neither"),
        (CardData(serialNumber: "S", expirationDate: "31/01/2027"), "expirationDate must be an ISO 8601"),
    ])
    func builderKeys(card: CardData, message: String) throws {
        var card = card
        card.values = sampleCard.values
        let template = try PassTemplate.load(folder: TestSupport.template("loyalty"))
        #expect { try builder().build(template: template, card: card) } throws: { error in
            (error as? PassError)?.message.contains(message) == true
        }
    }

    @Test("passes built from many threads at once are all valid")
    func concurrentBuilds() async throws {
        let template = try PassTemplate.load(folder: TestSupport.template("loyalty"))
        let builder = try builder()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<12 {
                group.addTask {
                    var card = sampleCard
                    card.serialNumber = "C-\(i)"
                    let pass = try builder.build(template: template, card: card)
                    return PassVerifier.verify(pass, trustAnchors: [TestSupport.identity.root]).isValid
                }
            }
            for try await valid in group { #expect(valid) }
        }
    }
}
