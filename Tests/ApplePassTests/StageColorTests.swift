import ApplePass
import PasslineJSON
import PasslineTestSupport
import Testing

@Suite("A card's stage picks its colours from the template's stages.json")
struct StageColorTests {
    @Test("stage 7 wears its colours, calm the template's; a colour a stage leaves out stays the template's; stages.json is no file of the pass")
    func stages() throws {
        let template = try PassTemplate.load(folder: TestSupport.template("loyalty"))
        #expect(template.stageColors.stages["7"]?["backgroundColor"] == "rgb(142, 22, 40)")
        var card = sampleCard
        for (stage, background, label) in [("7", "rgb(142, 22, 40)", "rgb(255, 200, 200)"), ("28", "rgb(122, 64, 24)", "rgb(255, 214, 170)"),
                                           ("calm", "rgb(46, 26, 71)", "rgb(236, 160, 190)"), ("unknown", "rgb(46, 26, 71)", "rgb(236, 160, 190)")] {
            card.values["expiryStage"] = .string(stage)
            let files = try unzip(try builder().build(template: template, card: card))
            let json = try foundationJSON(files["pass.json"]!)
            #expect(json["backgroundColor"] as? String == background && json["labelColor"] as? String == label, "\(stage)")
            #expect(json["foregroundColor"] as? String == "rgb(255, 244, 236)")
            #expect(files["stages.json"] == nil)
            #expect(PassVerifier.verify(try builder().build(template: template, card: card), trustAnchors: [TestSupport.identity.root]).isValid)
        }
    }

    @Test("a broken stages.json is refused, naming each fault")
    func broken() throws {
        var files = TestSupport.templateFiles("loyalty")
        files["stages.json"] = Array(#"{"7": {"backgroundColor": "red", "stripColor": "rgb(1, 2, 3)"}, "28": 5}"#.utf8)
        let error = try #require(templateError(files))
        let fields = Set(error.findings.compactMap(\.field))
        #expect(fields == ["7.backgroundColor", "7.stripColor", "28"], "\(error.findings)")
        files["stages.json"] = Array("[".utf8)
        #expect(templateError(files)?.findings.first?.file == "stages.json")
    }
}
