import PasslineJSON

/// Apple's rewards enrollment: a template's `personalization.json` asks Wallet to offer a sign-up
/// form when the pass is added; Wallet posts what the customer typed, with a token, to the
/// web service's `personalize` endpoint, which signs the token with the pass certificate.
public enum Personalization {
    /// The fields Wallet's sign-up form can ask for (`requiredPersonalizationFields`).
    public static let fields: Set<String> = ["PKPassPersonalizationFieldName", "PKPassPersonalizationFieldPostalCode",
                                              "PKPassPersonalizationFieldEmailAddress", "PKPassPersonalizationFieldPhoneNumber"]

    /// The faults of a `personalization.json`, each as a message; empty when Wallet can use it.
    public static func problems(_ bytes: [UInt8]) -> [(field: String?, message: String)] {
        guard let json = try? JSONParser.parse(bytes), case .object(let object) = json else {
            return [(nil, "is not a JSON object")]
        }
        var problems: [(String?, String)] = []
        for key in object.keys where !["requiredPersonalizationFields", "description", "termsAndConditions"].contains(key) {
            problems.append((key, "is not a field of personalization.json (requiredPersonalizationFields, description, termsAndConditions)"))
        }
        switch object["requiredPersonalizationFields"] {
        case .array(let items)? where !items.isEmpty:
            for (index, item) in items.enumerated() where !(item.stringValue.map(fields.contains) ?? false) {
                problems.append(("requiredPersonalizationFields[\(index)]", "must be one of \(fields.sorted().joined(separator: ", "))"))
            }
        default: problems.append(("requiredPersonalizationFields", "is required: a non-empty array of \(fields.sorted().joined(separator: ", "))"))
        }
        switch object["description"] {
        case .string(let text)? where !text.isEmpty && text.count <= 1_000: break
        default: problems.append(("description", "is required: a string of 1 to 1000 characters describing the program"))
        }
        if let terms = object["termsAndConditions"], terms.stringValue == nil { problems.append(("termsAndConditions", "must be a string")) }
        return problems
    }

    /// The files that make a pass personalizable; a personalized pass leaves them out, or Wallet
    /// would offer the sign-up form again.
    public static func isPersonalizationFile(_ path: String) -> Bool {
        path == "personalization.json" || path.hasPrefix("personalizationLogo")
    }
}
