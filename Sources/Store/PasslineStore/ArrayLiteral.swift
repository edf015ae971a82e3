import PasslineCrypto

/// PostgreSQL array literals, bound as one text parameter and cast in the statement
/// (`?::text[]`), so that one statement can carry a whole batch through `unnest`.
enum ArrayLiteral {
    /// Texts, every element quoted so that commas, braces, spaces and the word NULL stay text,
    /// with quotes and backslashes escaped; nil becomes SQL NULL.
    static func texts(_ values: [String?]) -> String {
        var out = "{"
        for (position, value) in values.enumerated() {
            if position > 0 { out += "," }
            guard let value else { out += "NULL"; continue }
            out += "\""
            for character in value.unicodeScalars {
                if character == "\"" || character == "\\" { out += "\\" }
                out.unicodeScalars.append(character)
            }
            out += "\""
        }
        return out + "}"
    }

    static func texts(_ values: [String]) -> String { texts(values.map(Optional.some)) }

    /// Integers; nil becomes SQL NULL.
    static func integers(_ values: [Int64?]) -> String {
        "{" + values.map { $0.map(String.init) ?? "NULL" }.joined(separator: ",") + "}"
    }

    static func integers(_ values: [Int64]) -> String { integers(values.map(Optional.some)) }

    /// Bytes as hexadecimal texts, for `decode(x, 'hex')` in the statement.
    static func hex(_ values: [[UInt8]]) -> String { texts(values.map(Digest.hex)) }
}
