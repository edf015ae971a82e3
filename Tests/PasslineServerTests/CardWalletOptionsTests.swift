import ApplePass
import Foundation
import PasslineCrypto
import PasslineJSON
import PasslineTestSupport
import PasslineZip
import Testing

@Suite("A card's expiry, relevant dates and places over the API, in the signed pass")
struct CardWalletOptionsTests {
    static func zip(_ files: [String: [UInt8]]) throws -> Data {
        let writer = try ZipWriter()
        for (name, bytes) in files.sorted(by: { $0.key < $1.key }) { try writer.add(name, bytes) }
        return Data(try writer.finish())
    }

    @Test("set on creation, changed and cleared with PATCH; each in the pass as Apple's reference names it; bad values named, nothing changed",
          arguments: TestDatabase.available)
    func overTheAPI(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        let files = TestSupport.templateFiles("loyalty")
        #expect(try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: try Self.zip(files), headers: key.merging(["Content-Type": "application/zip"]) { $1 }).status == 201)

        let created = try await server.send("POST", "/api/v1/cards", body: """
            {"template":"lumen","memberId":"W-1","memberName":"Wren","points":5,"expirationDate":"2027-03-31T23:59:00+01:00",
             "relevantDates":[{"date":"2027-01-10T09:00:00Z"},{"startDate":"2027-02-01T08:00:00Z","endDate":"2027-02-01T18:00:00Z"}],
             "locations":[{"latitude":52.52,"longitude":13.405,"relevantText":"Lumen is around the corner"}],"maxDistance":150}
            """, headers: key)
        #expect(created.status == 201, "\(String(decoding: created.body, as: UTF8.self))")
        let card = try #require(created.json)
        let serial = try #require(card["serialNumber"] as? String)
        #expect(card["expirationDate"] as? String == "2027-03-31T22:59:00Z" && card["maxDistance"] as? Int == 150)
        #expect((card["locations"] as? [[String: Any]])?.first?["relevantText"] as? String == "Lumen is around the corner")

        func passJSON() async throws -> JSONValue {
            let download = try await server.send("GET", "/api/v1/cards/\(serial)/pass.pkpass", headers: key)
            let verification = PassVerifier.verify([UInt8](download.body), trustAnchors: [TestSupport.identity.root])
            #expect(verification.isValid, "\(verification.findings)")
            return try #require(verification.passJSON)
        }
        var pass = try await passJSON()
        #expect(pass["expirationDate"] == .string("2027-03-31T22:59:00Z"))
        #expect(pass["relevantDate"] == .string("2027-01-10T09:00:00Z"), "the first date, for iOS before 18")
        let dates = try #require(pass["relevantDates"]?.arrayValue)
        #expect(dates.count == 2 && dates[0]["relevantDate"] == .string("2027-01-10T09:00:00Z") && dates[0]["date"] == .string("2027-01-10T09:00:00Z"))
        #expect(dates[1]["startDate"] == .string("2027-02-01T08:00:00Z") && dates[1]["endDate"] == .string("2027-02-01T18:00:00Z"))
        #expect(pass["locations"]?.arrayValue?.first?["relevantText"] == .string("Lumen is around the corner") && pass["maxDistance"] == .int(150))

        // PATCH: one key changes, another clears, the rest stay; a new version.
        let patched = try await server.send("PATCH", "/api/v1/cards/\(serial)", body: #"{"expirationDate":null,"maxDistance":300}"#, headers: key)
        #expect(patched.status == 200 && patched.json?["version"] as? Int == 2 && patched.json?["expirationDate"] is NSNull, "\(String(decoding: patched.body, as: UTF8.self))")
        pass = try await passJSON()
        #expect(pass["expirationDate"] == nil && pass["maxDistance"] == .int(300) && pass["locations"]?.arrayValue?.count == 1)

        // Bad values: each named; the card stays at version 2.
        for (body, field) in [(#"{"expirationDate":"tomorrow"}"#, "expirationDate"), (#"{"locations":[{"latitude":95,"longitude":0}]}"#, "locations[0].latitude"),
                              (#"{"relevantDates":[{"startDate":"2027-02-01T18:00:00Z","endDate":"2027-02-01T08:00:00Z"}]}"#, "relevantDates[0].endDate"),
                              (#"{"maxDistance":-1}"#, "maxDistance"), (#"{"points":9}"#, "points")] {
            let refused = try await server.send("PATCH", "/api/v1/cards/\(serial)", body: body, headers: key)
            let fields = (refused.json?["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? []
            #expect(refused.status == 422 && (fields.contains(field) || String(decoding: refused.body, as: UTF8.self).contains(field)), "\(body): \(String(decoding: refused.body, as: UTF8.self))")
        }
        let refusedCreate = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"W-2","memberName":"X","points":0,"expirationDate":7}"#, headers: key)
        #expect(refusedCreate.status == 422 && String(decoding: refusedCreate.body, as: UTF8.self).contains("expirationDate"))
        #expect(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json?["version"] as? Int == 2)
        await server.stop()
    }

    @Test("a template may not put a placeholder where the builder writes the value whole (it would ship as literal text)")
    func placeholdersRefused() async throws {
        let server = try await LiveServer.start(.sqlite)
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)", "Content-Type": "application/zip"]
        for (field, value) in [("expirationDate", "\"{{expiry}}\""), ("voided", "\"{{voided}}\""), ("relevantDate", "\"{{when}}\"")] {
            var files = TestSupport.templateFiles("loyalty")
            var text = String(decoding: try #require(files["pass.json"]), as: UTF8.self)
            text = text.replacingOccurrences(of: "\"formatVersion\": 1,", with: "\"formatVersion\": 1, \"\(field)\": \(value),")
            files["pass.json"] = Array(text.utf8)
            let refused = try await server.send("POST", "/api/v1/templates?name=t-\(field.lowercased())", bodyData: try Self.zip(files), headers: key)
            #expect(refused.status == 422 && String(decoding: refused.body, as: UTF8.self).contains("cannot hold a placeholder"), "\(field): \(String(decoding: refused.body, as: UTF8.self).prefix(400))")
        }
        await server.stop()
    }

    @Test("a barcode's encoding must carry its message: a Chinese member id on an iso-8859-1 barcode is refused naming both, and fits a utf-8 one")
    func barcodeEncoding() async throws {
        let server = try await LiveServer.start(.sqlite)
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        let zipHeaders = key.merging(["Content-Type": "application/zip"]) { $1 }
        let files = TestSupport.templateFiles("loyalty")
        #expect(try await server.send("POST", "/api/v1/templates?name=latin", bodyData: try Self.zip(files), headers: zipHeaders).status == 201)
        let refused = try await server.send("POST", "/api/v1/cards", body: #"{"template":"latin","memberId":"会员-1","memberName":"Li","points":0}"#, headers: key)
        let text = String(decoding: refused.body, as: UTF8.self)
        #expect(refused.status == 422 && text.contains("memberId") && text.contains("iso-8859-1"), "\(refused.status) \(text)")
        #expect(try await server.send("POST", "/api/v1/cards", body: #"{"template":"latin","memberId":"Zoë-1","memberName":"Zoë","points":0}"#, headers: key).status == 201,
                "Latin-1 letters fit")

        var utf8 = files
        utf8["pass.json"] = Array(String(decoding: try #require(files["pass.json"]), as: UTF8.self).replacingOccurrences(of: "iso-8859-1", with: "utf-8").utf8)
        #expect(try await server.send("POST", "/api/v1/templates?name=unicode", bodyData: try Self.zip(utf8), headers: zipHeaders).status == 201)
        let created = try await server.send("POST", "/api/v1/cards", body: #"{"template":"unicode","memberId":"会员-1","memberName":"Li","points":0}"#, headers: key)
        #expect(created.status == 201, "\(String(decoding: created.body, as: UTF8.self))")

        // A literal message the encoding cannot carry is refused when the template is uploaded.
        var literal = files
        literal["pass.json"] = Array(String(decoding: try #require(files["pass.json"]), as: UTF8.self)
            .replacingOccurrences(of: #""message": "{{memberId:string}}""#, with: #""message": "会员""#).utf8)
        let bad = try await server.send("POST", "/api/v1/templates?name=literal", bodyData: try Self.zip(literal), headers: zipHeaders)
        #expect(bad.status == 422 && String(decoding: bad.body, as: UTF8.self).contains("cannot carry"), "\(String(decoding: bad.body, as: UTF8.self).prefix(300))")
        await server.stop()
    }

    @Test("a .pkpasses bundle carries the named cards' passes, each verifying, in order; bad lists and other tenants' cards are refused", arguments: TestDatabase.available)
    func passBundle(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        #expect(try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: try Self.zip(TestSupport.templateFiles("loyalty")),
                                      headers: key.merging(["Content-Type": "application/zip"]) { $1 }).status == 201)
        var serials: [String] = []
        for member in ["B-1", "B-2"] {
            let created = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"\#(member)","memberName":"Bo","points":1}"#, headers: key)
            serials.append(try #require(created.json?["serialNumber"] as? String))
        }
        let bundle = try await server.send("GET", "/api/v1/passes.pkpasses?serials=\(serials.joined(separator: ","))", headers: key)
        #expect(bundle.status == 200 && bundle.contentType == "application/vnd.apple.pkpasses")
        let reader = try ZipReader(bytes: [UInt8](bundle.body))
        #expect(reader.entries.map(\.name) == ["1-\(serials[0]).pkpass", "2-\(serials[1]).pkpass"])
        for (entry, serial) in Swift.zip(reader.entries, serials) {
            let verification = PassVerifier.verify(try reader.read(entry), trustAnchors: [TestSupport.identity.root])
            #expect(verification.isValid && verification.passJSON?["serialNumber"] == .string(serial))
        }
        let theirs = try await server.send("POST", "/api/v1/cards", body: #"{"template":"loyalty","memberId":"X","memberName":"X","points":0}"#,
                                           headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"])
        let other = theirs.json?["serialNumber"] as? String ?? "unknown"
        for (query, status) in [("", 400), ("serials=", 400), ("serials=\(serials[0]),\(serials[0])", 400),
                                ("serials=" + Array(repeating: serials[0], count: 11).joined(separator: ","), 400),
                                ("serials=\(serials[0]),\(other)", 404), ("serials=nope", 404)] {
            #expect(try await server.send("GET", "/api/v1/passes.pkpasses?\(query)", headers: key).status == status, "\(query)")
        }
        await server.stop()
    }

    @Test("Apple's rewards sign-up: the pass offers Wallet's form; the sign-up names the member, comes back signed by the pass certificate, and the next pass leaves the form out",
          arguments: TestDatabase.available)
    func signUpThroughWallet(kind: TestDatabase) async throws {
        let server = try await LiveServer.start(kind)
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        var files = TestSupport.templateFiles("loyalty")
        files["personalization.json"] = Array(#"{"requiredPersonalizationFields":["PKPassPersonalizationFieldName","PKPassPersonalizationFieldEmailAddress"],"description":"Join Lumen Rewards: a point for every pound.","termsAndConditions":"lumen-clinic.example/terms"}"#.utf8)
        files["personalizationLogo.png"] = files["logo.png"]
        files["personalizationLogo@2x.png"] = files["logo@2x.png"]
        let zipHeaders = key.merging(["Content-Type": "application/zip"]) { $1 }
        #expect(try await server.send("POST", "/api/v1/templates?name=signup", bodyData: try Self.zip(files), headers: zipHeaders).status == 201)
        // A form without the logo, or with a field Wallet does not know, is refused.
        var broken = files
        broken["personalizationLogo.png"] = nil
        broken["personalizationLogo@2x.png"] = nil
        broken["personalization.json"] = Array(#"{"requiredPersonalizationFields":["PKPassPersonalizationFieldShoeSize"],"description":""}"#.utf8)
        let refused = try await server.send("POST", "/api/v1/templates?name=broken", bodyData: try Self.zip(broken), headers: zipHeaders)
        let refusal = String(decoding: refused.body, as: UTF8.self)
        #expect(refused.status == 422 && refusal.contains("requiredPersonalizationFields[0]") && refusal.contains("description") && refusal.contains("personalizationLogo"), "\(refusal.prefix(600))")

        let created = try await server.send("POST", "/api/v1/cards", body: #"{"template":"signup","memberId":"S-1","memberName":"New member","points":0}"#, headers: key)
        let serial = try #require(created.json?["serialNumber"] as? String)
        func contents(of serial: String) async throws -> (names: Set<String>, pass: JSONValue) {
            let download = try await server.send("GET", "/api/v1/cards/\(serial)/pass.pkpass", headers: key)
            let verification = PassVerifier.verify([UInt8](download.body), trustAnchors: [TestSupport.identity.root])
            #expect(verification.isValid, "\(verification.findings)")
            return (Set(try ZipReader(bytes: [UInt8](download.body)).entries.map(\.name)), try #require(verification.passJSON))
        }
        #expect(try await contents(of: serial).names.isSuperset(of: ["personalization.json", "personalizationLogo.png"]))

        let path = "\(server.service(server.tenantA))/passes/pass.dev.passline.tests/\(serial)/personalize"
        let body = #"{"personalizationToken":"dGhlLXRva2VuLWZyb20td2FsbGV0","requiredPersonalizationInfo":{"givenName":"Ada","familyName":"Lovelace","emailAddress":"ada@example.com"}}"#
        for (bad, field) in [(#"{"requiredPersonalizationInfo":{}}"#, "personalizationToken"), (#"{"personalizationToken":"{\"pass.json\":\"x\"}","requiredPersonalizationInfo":{}}"#, "personalizationToken"),
                             (#"{"personalizationToken":"abc"}"#, "requiredPersonalizationInfo"), (#"{"personalizationToken":"abc","requiredPersonalizationInfo":{"fullName":7}}"#, "fullName")] {
            let answer = try await server.send("POST", path, body: bad)
            #expect(answer.status == 400 || answer.status == 422, "\(bad): \(answer.status)")
            #expect(String(decoding: answer.body, as: UTF8.self).contains(field))
        }
        let signed = try await server.send("POST", path, body: body)
        #expect(signed.status == 200 && signed.contentType == "application/octet-stream", "\(String(decoding: signed.body, as: UTF8.self))")
        let report = try DetachedSignatureCheck.check(signature: [UInt8](signed.body), content: Array("dGhlLXRva2VuLWZyb20td2FsbGV0".utf8),
                                                      trustAnchors: [TestSupport.identity.root])
        #expect(report.isDetached && report.signatureValid && report.chainProblem == .some(nil), "signed by the pass certificate, chaining to its root")

        let card = try #require(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json)
        #expect(card["memberName"] as? String == "Ada Lovelace" && (card["fields"] as? [String: Any])?["email"] as? String == "ada@example.com")
        let after = try await contents(of: serial)
        #expect(!after.names.contains("personalization.json") && !after.names.contains { $0.hasPrefix("personalizationLogo") }, "the personalized pass leaves the form out")
        // A second sign-up (Wallet retrying, or someone else) changes nothing; the token is still signed.
        let again = try await server.send("POST", path, body: #"{"personalizationToken":"b3RoZXI=","requiredPersonalizationInfo":{"fullName":"Mallory"}}"#)
        #expect(again.status == 200)
        #expect(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json?["memberName"] as? String == "Ada Lovelace")
        // A card whose pass offers no sign-up, and an unknown serial: 404.
        #expect(try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: try Self.zip(TestSupport.templateFiles("loyalty")), headers: zipHeaders).status == 201)
        let plain = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"P-1","memberName":"P","points":0}"#, headers: key)
        let plainSerial = try #require(plain.json?["serialNumber"] as? String)
        #expect(try await server.send("POST", "\(server.service(server.tenantA))/passes/pass.dev.passline.tests/\(plainSerial)/personalize", body: body).status == 404)
        #expect(try await server.send("POST", "\(server.service(server.tenantA))/passes/pass.dev.passline.tests/nope/personalize", body: body).status == 404)
        await server.stop()
    }
}
