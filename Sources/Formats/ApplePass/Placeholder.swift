import Foundation
import PasslineJSON

/// A `{{key}}` in a template's pass.json, optionally typed and with a default:
/// `{{memberName}}`, `{{points:integer}}`, `{{tier|Member}}`, `{{points:integer|0}}`.
public struct Placeholder: Sendable, Equatable {
    /// What a card's value must be.
    public enum ValueType: String, Sendable, CaseIterable {
        case any, string, integer, number, boolean, date
    }

    public let key: String
    public let type: ValueType
    /// The value used when the card has none; nil makes the key required.
    public let defaultValue: JSONValue?

    public var isRequired: Bool { defaultValue == nil }

    /// Parses the text between `{{` and `}}`.
    /// - Throws: a message naming what is wrong with the placeholder.
    init(parsing inner: Substring) throws(PlaceholderSyntaxError) {
        var spec = inner
        var defaultText: Substring?
        if let bar = spec.firstIndex(of: "|") {
            defaultText = spec[spec.index(after: bar)...]
            spec = spec[..<bar]
        }
        var typeName: Substring?
        if let colon = spec.firstIndex(of: ":") {
            typeName = spec[spec.index(after: colon)...]
            spec = spec[..<colon]
        }
        let key = spec.trimmingWhitespace
        guard !key.isEmpty, key.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "." || $0 == "-" }) else {
            throw PlaceholderSyntaxError("{{\(inner)}} has no usable key; keys use letters, digits, '_', '.' and '-'")
        }
        let type: ValueType
        if let typeName {
            guard let parsed = ValueType(rawValue: typeName.trimmingWhitespace) else {
                throw PlaceholderSyntaxError("{{\(inner)}} has unknown type \"\(typeName)\"; use one of \(ValueType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            type = parsed
        } else {
            type = .any
        }
        self.key = key
        self.type = type
        if let defaultText {
            // A default that reads as a JSON number or boolean is one ({{points|0}});
            // anything else is text ({{tier|Member}}).
            let text = String(defaultText)
            let parsed = try? JSONParser.parse(text)
            let value: JSONValue
            switch (type, parsed) {
            case (.string, _), (.date, _): value = .string(text)
            case (_, .int?), (_, .double?), (_, .bool?): value = parsed!
            default: value = .string(text)
            }
            if case .failure(let problem) = Placeholder.coerce(value, to: type, key: key) {
                throw PlaceholderSyntaxError("{{\(inner)}} has a default that \(problem)")
            }
            self.defaultValue = value
        } else {
            self.defaultValue = nil
        }
    }

    /// Checks a card's value against the placeholder's type.
    static func coerce(_ value: JSONValue, to type: ValueType, key: String) -> Result<JSONValue, CoercionProblem> {
        switch (type, value) {
        case (_, .array), (_, .object):
            return .failure(CoercionProblem("must be a single value, found \(value.typeName)"))
        case (.any, _): return .success(value)
        case (.string, .string): return .success(value)
        case (.string, .int), (.string, .double), (.string, .bool):
            return .failure(CoercionProblem("must be a string, found \(value.typeName)"))
        case (.integer, .int): return .success(value)
        case (.integer, .double(let d)) where d == d.rounded() && abs(d) < 9e15: return .success(.int(Int64(d)))
        case (.number, .int), (.number, .double): return .success(value)
        case (.boolean, .bool): return .success(value)
        case (.date, .string(let s)) where ISO8601.isValidWithZone(s): return .success(value)
        case (.date, _):
            return .failure(CoercionProblem("must be an ISO 8601 date and time with a time zone (2026-12-31T23:59:00+01:00), found \(JSONWriter.string(value))"))
        case (.integer, _): return .failure(CoercionProblem("must be an integer, found \(value.typeName == "a number" ? JSONWriter.string(value) : value.typeName)"))
        case (.number, _): return .failure(CoercionProblem("must be a number, found \(value.typeName)"))
        case (.boolean, _): return .failure(CoercionProblem("must be true or false, found \(value.typeName)"))
        default: return .failure(CoercionProblem("has the wrong type (\(value.typeName))"))
        }
    }

    struct CoercionProblem: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

struct PlaceholderSyntaxError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A string from pass.json split into literal text and placeholders.
enum TemplateText {
    case literal(String)
    case placeholders([Part])

    enum Part {
        case text(String)
        case hole(Placeholder)
    }

    static func split(_ string: String) throws(PlaceholderSyntaxError) -> TemplateText {
        guard string.contains("{{") else { return .literal(string) }
        var parts: [Part] = []
        var rest = Substring(string)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw PlaceholderSyntaxError("\"\(string)\" opens a placeholder with {{ but never closes it with }}")
            }
            parts.append(.hole(try Placeholder(parsing: rest[open.upperBound..<close.lowerBound])))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        return .placeholders(parts)
    }
}
