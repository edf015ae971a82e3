import ApplePass
import Foundation
import PasslineJSON
import PasslineTestSupport
import PasslineZip
import Testing

@Suite("Loading templates")
struct TemplateTests {
    @Test("the loyalty template asks for the keys INTERFACE.md names, with their types and defaults")
    func loyaltyKeys() throws {
        let template = try PassTemplate.load(folder: TestSupport.template("loyalty"))
        #expect(template.name == "loyalty")
        #expect(template.style == "storeCard")
        let byKey = Dictionary(template.placeholders.map { ($0.key, $0) }) { a, _ in a }
        #expect(byKey["memberId"]?.isRequired == true)
        #expect(byKey["memberName"]?.isRequired == true)
        #expect(byKey["points"]?.type == .integer)
        #expect(byKey["points"]?.isRequired == true)
        #expect(byKey["tier"]?.defaultValue == .string("Member"))
        #expect(template.assetNames.contains("de.lproj/pass.strings"))
    }

    @Test("Google's artwork: a square google/logo.png of 660 pixels or more and a wide google/hero.png, kept out of the pass; others named")
    func googleArtwork() throws {
        let files = TestSupport.templateFiles("loyalty")
        let template = try PassTemplate(name: "loyalty", files: files)
        #expect(template.googleImages == ["google/logo.png", "google/hero.png"])
        #expect(!template.assetNames.contains { $0.hasPrefix("google/") }, "never in the pass")
        let appleLogo = try #require(files["logo@3x.png"]), square = try #require(files["google/logo.png"]), hero = try #require(files["google/hero.png"])
        for (path, bytes, reason) in [("google/logo.png", appleLogo, "square"), ("google/logo.png", try #require(files["icon@3x.png"]), "660"),
                                      ("google/hero.png", square, "wide banner"), ("google/banner.png", hero, "not Google artwork"),
                                      ("google/logo.png", Array(square.prefix(100)), "PNG")] {
            var edited = files
            edited[path] = bytes
            #expect {
                try PassTemplate(name: "loyalty", files: edited)
            } throws: { error in
                guard let error = error as? PassError else { return false }
                return error.findings.contains { $0.file == path && $0.message.contains(reason) }
            }
        }
    }

    @Test("the membership template is a generic pass with a thumbnail")
    func membership() throws {
        let template = try PassTemplate.load(folder: TestSupport.template("membership"))
        #expect(template.style == "generic")
        #expect(template.assetNames.contains("thumbnail@3x.png"))
    }

    @Test("non-ASCII localizations are converted to UTF-16 as Apple asks; ASCII ones are left alone")
    func stringsEncoding() throws {
        var source = TestSupport.templateFiles("loyalty")
        let ascii = Array("\"POINTS\" = \"POINTS\";\n".utf8)
        source["en.lproj/pass.strings"] = ascii
        let pass = try builder().build(template: try PassTemplate(name: "strings", files: source), card: sampleCard)
        let files = try unzip(pass)
        #expect(files["de.lproj/pass.strings"]!.starts(with: [0xFF, 0xFE]))
        #expect(PassStrings.decode(files["de.lproj/pass.strings"]!)!.contains("SO FUNKTIONIERT’S"))
        #expect(files["en.lproj/pass.strings"]! == ascii)
    }

    @Test("a zip upload loads with its files at the root or inside one folder")
    func zipUpload() throws {
        let files = TestSupport.templateFiles("loyalty")
        for prefix in ["", "loyalty.pass/"] {
            let writer = try ZipWriter()
            for (name, bytes) in files { try writer.add(prefix + name, bytes) }
            if !prefix.isEmpty { try writer.add("__MACOSX/._pass.json", [0]) }
            let template = try PassTemplate.load(name: "uploaded", zip: try writer.finish())
            // Every file but pass.json, stages.json and google/ (the template's, not the pass's) goes into the pass.
            #expect(template.assetNames.count == files.count - 4 && template.stageColors.stages.count == 2 && template.googleImages.count == 2)
        }
        #expect { try PassTemplate.load(name: "x", zip: Array("no".utf8)) } throws: { ($0 as? PassError)?.code == .invalidTemplate }
    }

    @Test("broken pass.json: each rule names its file and field", arguments: [
        ("formatVersion", JSONValue.int(2), "formatVersion", "must be the integer 1"),
        ("organizationName", JSONValue.string(" "), "organizationName", "must not be empty"),
        ("generic", JSONValue.object(JSONObject()), nil, "exactly one is allowed"),
        ("backgroundColor", JSONValue.string("#ff0000"), "backgroundColor", "rgb(r, g, b)"),
        ("relevantDate", JSONValue.string("2026-12-24 10:00"), "relevantDate", "ISO 8601"),
        ("locations", JSONValue.array(Array(repeating: .object(JSONObject([("latitude", .double(51.5)), ("longitude", .double(-0.1))])), count: 11)), "locations", "at most 10"),
        ("barcodes", JSONValue.array([.object(JSONObject([("format", .string("PKBarcodeFormatQR")), ("message", .string("x"))]))]), "barcodes[0].messageEncoding", "is required"),
    ] as [(String, JSONValue, String?, String)])
    func brokenRules(key: String, value: JSONValue, field: String?, message: String) throws {
        let error = try #require(templateError(loyaltyFiles { $0[key] = value }))
        #expect(error.code == .invalidTemplate)
        #expect(error.findings.errors.contains { $0.file == "pass.json" && $0.field == field && $0.message.contains(message) }, "\(error)")
    }

    @Test("field keys must be unique and change messages must hold %@")
    func fields() throws {
        let files = loyaltyFiles { document in
            var card = document["storeCard"]!.objectValue!
            var primary = card["primaryFields"]!.arrayValue!
            var field = primary[0].objectValue!
            field["key"] = .string("tier")
            field["changeMessage"] = .string("Points changed")
            primary[0] = .object(field)
            card["primaryFields"] = .array(primary)
            document["storeCard"] = .object(card)
        }
        let error = try #require(templateError(files))
        #expect(error.findings.errors.contains { $0.field == "storeCard.primaryFields[0].key" && $0.message.contains("used twice") })
        #expect(error.findings.errors.contains { $0.field == "storeCard.primaryFields[0].changeMessage" && $0.message.contains("%@") })
        // Every fault is listed, not only the first.
        #expect(error.findings.errors.count == 2)
    }

    @Test("semantic tags: a store card's balance is a money amount with an ISO 4217 code; other shapes are named")
    func semanticTags() throws {
        let good = loyaltyFiles { $0["semantics"] = .object(JSONObject([("balance", .object(JSONObject([("amount", .string("{{credit}}")), ("currencyCode", .string("EUR"))])))])) }
        #expect(templateError(good) == nil)
        for (value, field) in [(JSONValue.string("x"), "semantics"), (.object(JSONObject([("balance", .int(3))])), "semantics.balance"),
                               (.object(JSONObject([("balance", .object(JSONObject([("amount", .string("1")), ("currencyCode", .string("euro"))])))])), "semantics.balance.currencyCode")] {
            let files = loyaltyFiles { $0["semantics"] = value }
            #expect(try #require(templateError(files)).findings.errors.contains { $0.field == field }, "\(field)")
        }
    }

    @Test("pass.json that is not JSON names the line")
    func notJSON() throws {
        var files = TestSupport.templateFiles("loyalty")
        files["pass.json"] = Array("{\n  \"formatVersion\": 1,\n  oops\n}".utf8)
        let error = try #require(templateError(files))
        #expect(error.findings.errors.first?.message.contains("line 3") == true)
    }

    @Test("a template without pass.json says so")
    func noPassJSON() throws {
        var files = TestSupport.templateFiles("loyalty")
        files["pass.json"] = nil
        #expect(try #require(templateError(files)).findings.errors.first?.file == "pass.json")
    }

    @Test("a missing icon is an error naming icon.png")
    func missingIcon() throws {
        var files = TestSupport.templateFiles("loyalty")
        files["icon.png"] = nil
        let error = try #require(templateError(files))
        #expect(error.findings.errors.contains { $0.file == "icon.png" && $0.message.contains("requires an icon") })
    }

    @Test("an image that is not a PNG is an error naming the file")
    func notPNG() throws {
        var files = TestSupport.templateFiles("loyalty")
        files["logo@2x.png"] = [0xFF, 0xD8, 0xFF, 0xE0] + Array(repeating: 0, count: 100)
        let error = try #require(templateError(files))
        #expect(error.findings.errors.contains { $0.file == "logo@2x.png" && $0.message.contains("not a PNG") })
    }

    @Test("an @2x that is not twice its @1x is only a warning")
    func oddSize() throws {
        var files = TestSupport.templateFiles("loyalty")
        files["logo@2x.png"] = files["logo@3x.png"]
        let template = try PassTemplate(name: "odd", files: files)
        #expect(template.warnings.contains { $0.file == "logo@2x.png" && $0.message.contains("not 2×") })
    }

    @Test("every .lproj must localize an image at the same resolutions and sizes")
    func localizedResolutions() throws {
        var files = TestSupport.templateFiles("loyalty")
        files["en.lproj/logo.png"] = files["logo.png"]
        files["en.lproj/logo@2x.png"] = files["logo@2x.png"]
        files["de.lproj/logo.png"] = files["logo.png"]
        var error = try #require(templateError(files))
        #expect(error.findings.errors.contains { $0.message.contains("same resolutions") }, "\(error)")

        files["de.lproj/logo@2x.png"] = files["logo@3x.png"]
        error = try #require(templateError(files))
        #expect(error.findings.errors.contains { $0.file.hasSuffix(".lproj/logo@2x.png") && $0.message.contains("same image sizes") }, "\(error)")

        files["de.lproj/logo@2x.png"] = files["logo@2x.png"]
        let fixed = templateError(files)
        #expect(fixed == nil, "\(String(describing: fixed))")
    }

    @Test("a broken strings file names its line")
    func brokenStrings() throws {
        var files = TestSupport.templateFiles("loyalty")
        files["de.lproj/pass.strings"] = Array("\"A\" = \"B\";\n\"C\" = \"D\"\n".utf8)
        let error = try #require(templateError(files))
        #expect(error.findings.errors.contains { $0.file == "de.lproj/pass.strings" && $0.message.contains("expected ';'") })
    }

    @Test("broken placeholders are named", arguments: [
        ("{{memberName", "never closes"),
        ("{{points:float}}", "unknown type"),
        ("{{points:integer|many}}", "default that must be an integer"),
        ("{{ }}", "no usable key"),
    ])
    func brokenPlaceholders(value: String, message: String) throws {
        let files = loyaltyFiles { $0["description"] = .string(value) }
        let error = try #require(templateError(files))
        #expect(error.findings.errors.contains { $0.field == "description" && $0.message.contains(message) }, "\(error)")
    }

    @Test("path tricks in an upload are refused, and stray files are left out with a warning")
    func strayFiles() throws {
        var files = TestSupport.templateFiles("loyalty")
        for trick in ["../evil.png", "./icon.png", "a//b.png"] {
            var tricked = files
            tricked[trick] = files["icon.png"]
            let error = try #require(templateError(tricked))
            #expect(error.findings.errors.contains { $0.file == trick && $0.message.contains("plain relative path") })
        }
        files["notes.txt"] = Array("hello".utf8)
        files["manifest.json"] = Array("{}".utf8)
        files[".DS_Store"] = [0]
        let template = try PassTemplate(name: "stray", files: files)
        #expect(!template.assetNames.contains("notes.txt"))
        #expect(!template.assetNames.contains(".DS_Store"))
        #expect(template.warnings.contains { $0.file == "notes.txt" })
        #expect(template.warnings.contains { $0.file == "manifest.json" })
    }

    @Test("an image that is a PNG up to its header but whose pixels do not decode is an error with the reason")
    func undecodablePNG() throws {
        var files = TestSupport.templateFiles("loyalty")
        // The signature and IHDR of the real logo, then garbage where its image data was.
        files["logo.png"] = Array(files["logo.png"]!.prefix(33)) + Array(repeating: 0x41, count: 64)
        let error = try #require(templateError(files))
        #expect(error.findings.errors.contains { $0.file == "logo.png" && $0.message.contains("not a valid PNG image") })
    }

    @Test("an image far larger than Wallet draws it is an error naming Apple's size; a little larger, a warning")
    func imageDimensions() throws {
        var files = TestSupport.templateFiles("loyalty")
        files["logo.png"] = files["strip@3x.png"]  // 1125×432 where Wallet draws 160×50
        let error = try #require(templateError(files))
        #expect(error.findings.errors.contains { $0.file == "logo.png" && $0.message.contains("160×50 points") })
        var slightly = TestSupport.templateFiles("loyalty")
        slightly["icon.png"] = slightly["icon@2x.png"]  // 58×58 where Wallet draws 29×29
        let template = try PassTemplate(name: "slightly", files: slightly)
        #expect(template.warnings.contains { $0.file == "icon.png" && $0.message.contains("scaled down") })
    }

    @Test("a test pass says TEST on its front: in front of the template's logoText, or as the logoText")
    func testMarker() throws {
        var card = sampleCard
        card.marker = "TEST"
        let plain = try PassTemplate.load(folder: TestSupport.template("loyalty"))
        let marked = try JSONParser.parse(unzip(builder().build(template: plain, card: card))["pass.json"]!)
        #expect(marked["logoText"] == .string("TEST"))
        let live = try JSONParser.parse(unzip(builder().build(template: plain, card: sampleCard))["pass.json"]!)
        #expect(live["logoText"] == nil)

        var files = TestSupport.templateFiles("loyalty")
        var document = try JSONParser.parse(files["pass.json"]!).objectValue!
        document["logoText"] = .string("{{memberName}} \"Club\"")
        files["pass.json"] = JSONWriter.bytes(.object(document))
        let withText = try PassTemplate(name: "text", files: files)
        let both = try JSONParser.parse(unzip(builder().build(template: withText, card: card))["pass.json"]!)
        #expect(both["logoText"] == .string("TEST · Ada Lovelace \"Club\""))
        let liveText = try JSONParser.parse(unzip(builder().build(template: withText, card: sampleCard))["pass.json"]!)
        #expect(liveText["logoText"] == .string("Ada Lovelace \"Club\""))
    }
}
