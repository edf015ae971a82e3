import PasslineJSON

/// A template's pass.json compiled into literal byte runs and holes.
///
/// Compiling once per template means a pass costs one walk over a short list of chunks, and
/// every card value goes through the JSON escaper on its way in: a member name with quotes,
/// newlines or emoji cannot break the document, and a whole-value placeholder keeps the
/// value's JSON type, so a points balance stays a number.
struct CompiledPassJSON: Sendable {
    enum Chunk: Sendable {
        case literal([UInt8])
        /// A string value that is exactly one placeholder: replaced by the typed value.
        case value(Placeholder)
        /// A placeholder inside longer text: its value is spliced into the string.
        case inString(Placeholder)
        /// Where the builder writes the identifiers, serial, web service and state keys.
        case builderKeys
        /// Inside `logoText`, before the template's text: where a test pass's marker goes.
        case marker
    }

    let chunks: [Chunk]
    /// Every placeholder, in order of first use.
    let placeholders: [Placeholder]
    /// Template values for keys the card may override (`voided`, `expirationDate`, and the
    /// colours, which a card's stage may change).
    let overridable: [String: JSONValue]

    /// Keys a card may set for itself: written by the builder, the card's value or the template's.
    /// A template gives them as literals only (PassJSONRules refuses placeholders in them: the
    /// builder writes them whole, and a typed card value is checked where a placeholder's text
    /// would not be).
    static let overridableKeys = ["voided", "expirationDate", "relevantDate", "relevantDates", "locations", "maxDistance"] + StageColors.keys
    /// Whether the template has a `logoText` string (a marker goes in front of it); without one
    /// the builder writes a `logoText` of its own for a marked pass.
    let hasLogoText: Bool

    /// - Throws: `PassError.invalidTemplate` naming the field with a broken placeholder.
    init(_ root: JSONObject, file: String) throws {
        var chunks: [Chunk] = []
        var pending: [UInt8] = []
        var seen: [String: Placeholder] = [:]
        var order: [Placeholder] = []
        var problems: [PassFinding] = []

        func flush() {
            if !pending.isEmpty { chunks.append(.literal(pending)); pending = [] }
        }
        func note(_ placeholder: Placeholder, at path: String) {
            if let earlier = seen[placeholder.key] {
                if earlier.type != placeholder.type && earlier.type != .any && placeholder.type != .any {
                    problems.append(PassFinding(.error, file: file, field: path, "{{\(placeholder.key)}} is typed \(placeholder.type.rawValue) here but \(earlier.type.rawValue) elsewhere"))
                }
                if earlier.defaultValue != placeholder.defaultValue {
                    problems.append(PassFinding(.error, file: file, field: path, "{{\(placeholder.key)}} has a different default here than elsewhere"))
                }
                return
            }
            seen[placeholder.key] = placeholder
            order.append(placeholder)
        }
        func emitContent(_ parts: [TemplateText.Part], path: String) {
            for part in parts {
                switch part {
                case .text(let text): JSONWriter.writeStringContent(text, into: &pending)
                case .hole(let placeholder):
                    note(placeholder, at: path)
                    flush()
                    chunks.append(.inString(placeholder))
                }
            }
        }
        func emit(_ value: JSONValue, path: String) {
            switch value {
            case .string(let text):
                let split: TemplateText
                do { split = try TemplateText.split(text) } catch {
                    problems.append(PassFinding(.error, file: file, field: path, error.description))
                    JSONWriter.write(value, into: &pending)
                    return
                }
                switch split {
                case .literal: JSONWriter.write(value, into: &pending)
                case .placeholders(let parts):
                    if parts.count == 1, case .hole(let placeholder) = parts[0] {
                        note(placeholder, at: path)
                        flush()
                        chunks.append(.value(placeholder))
                        return
                    }
                    pending.append(UInt8(ascii: "\""))
                    emitContent(parts, path: path)
                    pending.append(UInt8(ascii: "\""))
                }
            case .array(let items):
                pending.append(UInt8(ascii: "["))
                for (index, item) in items.enumerated() {
                    if index > 0 { pending.append(UInt8(ascii: ",")) }
                    emit(item, path: "\(path)[\(index)]")
                }
                pending.append(UInt8(ascii: "]"))
            case .object(let object):
                pending.append(UInt8(ascii: "{"))
                for (index, member) in object.members.enumerated() {
                    if member.key.contains("{{") {
                        problems.append(PassFinding(.error, file: file, field: path.isEmpty ? member.key : "\(path).\(member.key)", "placeholders may stand only in values, not in keys"))
                    }
                    if index > 0 { pending.append(UInt8(ascii: ",")) }
                    JSONWriter.writeString(member.key, into: &pending)
                    pending.append(UInt8(ascii: ":"))
                    emit(member.value, path: path.isEmpty ? member.key : "\(path).\(member.key)")
                }
                pending.append(UInt8(ascii: "}"))
            default:
                JSONWriter.write(value, into: &pending)
            }
        }

        var body = root
        var overridable: [String: JSONValue] = [:]
        for key in PassJSONRules.builderKeys { body[key] = nil }
        for key in Self.overridableKeys {
            if let value = body[key] {
                overridable[key] = value
                body[key] = nil
            }
        }
        // The builder's keys go first, then the template's members; the object is never
        // empty because formatVersion is required, so the comma is always right.
        pending.append(UInt8(ascii: "{"))
        flush()
        chunks.append(.builderKeys)
        var hasLogoText = false
        for member in body.members {
            pending.append(UInt8(ascii: ","))
            JSONWriter.writeString(member.key, into: &pending)
            pending.append(UInt8(ascii: ":"))
            if member.key == "logoText", case .string(let text) = member.value, let split = try? TemplateText.split(text) {
                // Spliced as text even when it is one placeholder: the marker goes in front of it.
                hasLogoText = true
                pending.append(UInt8(ascii: "\""))
                flush()
                chunks.append(.marker)
                switch split {
                case .literal: JSONWriter.writeStringContent(text, into: &pending)
                case .placeholders(let parts): emitContent(parts, path: member.key)
                }
                pending.append(UInt8(ascii: "\""))
            } else {
                emit(member.value, path: member.key)
            }
        }
        pending.append(UInt8(ascii: "}"))
        flush()

        if !problems.isEmpty {
            throw PassError(.invalidTemplate, "\(file) has broken placeholders.", findings: problems)
        }
        self.chunks = chunks
        self.placeholders = order
        self.overridable = overridable
        self.hasLogoText = hasLogoText
    }

    /// Renders the document for one card.
    /// - Throws: `PassError.invalidCardData` naming every missing or mistyped value.
    func render(values: [String: JSONValue], marker: String? = nil, builderKeys: (inout [UInt8]) -> Void) throws -> [UInt8] {
        var resolved: [String: JSONValue] = [:]
        var problems: [String] = []
        for placeholder in placeholders {
            let given = values[placeholder.key].flatMap { $0 == .null ? nil : $0 }
            guard let value = given ?? placeholder.defaultValue else {
                problems.append("\(placeholder.key) is required by the template but missing")
                continue
            }
            switch Placeholder.coerce(value, to: placeholder.type, key: placeholder.key) {
            case .success(let value): resolved[placeholder.key] = value
            case .failure(let problem): problems.append("\(placeholder.key) \(problem)")
            }
        }
        if !problems.isEmpty {
            throw PassError(.invalidCardData, "The card data does not fit the template: \(problems.joined(separator: "; ")).")
        }

        var out: [UInt8] = []
        out.reserveCapacity(4096)
        for chunk in chunks {
            switch chunk {
            case .literal(let bytes): out.append(contentsOf: bytes)
            case .value(let placeholder): JSONWriter.write(resolved[placeholder.key]!, into: &out)
            case .inString(let placeholder):
                switch resolved[placeholder.key]! {
                case .string(let s): JSONWriter.writeStringContent(s, into: &out)
                case .double(let d): JSONWriter.writeDouble(d, into: &out)
                case let other: JSONWriter.write(other, into: &out)
                }
            case .builderKeys: builderKeys(&out)
            case .marker: if let marker { JSONWriter.writeStringContent(marker, into: &out) }
            }
        }
        return out
    }
}
