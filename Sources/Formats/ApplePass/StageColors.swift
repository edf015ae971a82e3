import PasslineJSON

/// A template's colours per stage, from its `stages.json`:
/// `{"28": {"backgroundColor": "rgb(120, 62, 20)"}, "7": {"backgroundColor": "rgb(150, 24, 32)", "labelColor": "rgb(255, 220, 200)"}}`.
/// A card whose `expiryStage` value names a stage wears its colours; any other card, and any
/// colour a stage leaves out, the template's own.
public struct StageColors: Sendable, Equatable {
    /// The colour keys a stage may set.
    public static let keys = ["backgroundColor", "foregroundColor", "labelColor"]
    /// The card value that names its stage.
    public static let stageKey = "expiryStage"

    public let stages: [String: [String: String]]

    public init(stages: [String: [String: String]] = [:]) {
        self.stages = stages
    }

    /// - Throws: `PassError.invalidTemplate` naming each fault in stages.json.
    init(parsing bytes: [UInt8]) throws(PassError) {
        var findings: [PassFinding] = []
        func fault(_ field: String?, _ message: String) { findings.append(PassFinding(.error, file: "stages.json", field: field, message)) }
        guard let document = (try? JSONParser.parse(bytes))?.objectValue else {
            throw PassError(.invalidTemplate, "stages.json is not valid.", findings: [PassFinding(.error, file: "stages.json", "must be a JSON object of stage → colours")])
        }
        var stages: [String: [String: String]] = [:]
        if document.count > 10 { fault(nil, "names \(document.count) stages; at most 10 are allowed") }
        for member in document.members {
            guard !member.key.isEmpty, member.key.count <= 32 else { fault(member.key, "a stage's name is 1 to 32 characters"); continue }
            guard let colors = member.value.objectValue else { fault(member.key, "must be an object of colours, found \(member.value.typeName)"); continue }
            var stage: [String: String] = [:]
            for color in colors.members {
                guard Self.keys.contains(color.key) else {
                    fault("\(member.key).\(color.key)", "is not a colour a stage may set (\(Self.keys.joined(separator: ", ")))"); continue
                }
                guard let text = color.value.stringValue, RGBColor(text) != nil else {
                    fault("\(member.key).\(color.key)", "must be a colour written rgb(r, g, b) with each part 0 to 255, found \(JSONWriter.string(color.value))"); continue
                }
                stage[color.key] = text
            }
            stages[member.key] = stage
        }
        guard findings.isEmpty else { throw PassError(.invalidTemplate, "stages.json is not valid.", findings: findings) }
        self.stages = stages
    }
}
