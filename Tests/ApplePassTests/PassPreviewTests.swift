@testable import ApplePass
import PasslineTestSupport
import Testing

@Suite("Reading a built pass back for a preview")
struct PassPreviewTests {
    @Test("Accept-Language orders by weight and picks the pass's closest language")
    func languages() {
        #expect(PassPreview.languages(acceptLanguage: "fr;q=0.2, de-CH, en;q=0.5, *;q=0.1") == ["de-CH", "en", "fr"])
        #expect(PassPreview.languages(acceptLanguage: "de;q=0, en") == ["en"])
        #expect(PassPreview.pick(["de-CH"], from: ["en", "de"]) == "de")
        #expect(PassPreview.pick(["ja"], from: ["fr", "en"]) == "en", "English when nothing matches")
        #expect(PassPreview.pick([], from: ["fr"]) == "fr")
        #expect(PassPreview.pick(["en"], from: []) == nil)
    }

    @Test("a built pass reads back with localized labels, grouped numbers, colours and its barcode")
    func builtPass() throws {
        let template = try PassTemplate(name: "loyalty", files: TestSupport.templateFiles("loyalty"))
        let card = CardData(serialNumber: "S-1", values: ["memberId": .string("M-7"), "memberName": .string("Zoë"), "points": .int(1_234_567)])
        let pass = try PassBuilder(identity: TestSupport.identity.signingIdentity()).build(template: template, card: card)
        let german = try PassPreview(pkpass: pass, languages: ["de"])
        #expect(german.language == "de" && german.style == "storeCard")
        #expect(german.primaryFields == [.init(key: "points", label: "PUNKTE", value: "1,234,567")])
        #expect(german.backgroundColor == .init(red: 46, green: 26, blue: 71))
        #expect(german.barcode == .init(format: "PKBarcodeFormatQR", message: "M-7", altText: "M-7"))
        #expect(!german.voided)
        #expect(try PassPreview(pkpass: pass).language == "en")
        #expect(try PassPreview.file("logo.png", in: pass)?.starts(with: [0x89, 0x50]) == true)
        #expect(try PassPreview.file("nothing.png", in: pass) == nil)
        #expect(throws: PassError.self) { try PassPreview(files: ["pass.json": Array("[1]".utf8)]) }
        #expect(PassPreview.color("rgb(300, 0, 0)") == nil && PassPreview.grouped(-1000) == "-1,000")
    }
}
