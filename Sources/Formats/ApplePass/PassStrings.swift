/// `pass.strings` files: `"key" = "value";` pairs with C comments, in UTF-8 or UTF-16.
public enum PassStrings {
    /// Why a strings file cannot be read.
    public struct ParseError: Error, Sendable, Equatable {
        public let message: String
        public let line: Int
    }

    /// Decodes the file's text: UTF-16 (with a byte order mark) or UTF-8.
    public static func decode(_ bytes: [UInt8]) -> String? {
        if bytes.starts(with: [0xFF, 0xFE]) { return utf16(bytes.dropFirst(2), littleEndian: true) }
        if bytes.starts(with: [0xFE, 0xFF]) { return utf16(bytes.dropFirst(2), littleEndian: false) }
        let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        return String(validating: body, as: UTF8.self)
    }

    /// The text in the encoding Apple asks for: unchanged when ASCII, otherwise UTF-16
    /// little-endian with a byte order mark.
    public static func encodedForWallet(_ text: String) -> [UInt8] {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return Array(text.utf8) }
        var out: [UInt8] = [0xFF, 0xFE]
        for unit in text.utf16 { out.append(UInt8(unit & 0xFF)); out.append(UInt8(unit >> 8)) }
        return out
    }

    private static func utf16<C: Collection>(_ bytes: C, littleEndian: Bool) -> String? where C.Element == UInt8 {
        let array = Array(bytes)
        guard array.count % 2 == 0 else { return nil }
        var units: [UInt16] = []
        units.reserveCapacity(array.count / 2)
        for i in stride(from: 0, to: array.count, by: 2) {
            units.append(littleEndian ? UInt16(array[i]) | UInt16(array[i + 1]) << 8 : UInt16(array[i]) << 8 | UInt16(array[i + 1]))
        }
        var scalars = String.UnicodeScalarView()
        var iterator = units.makeIterator()
        var decoder = UTF16()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): scalars.append(scalar)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        return String(scalars)
    }

    /// Parses the pairs.
    /// - Throws: `ParseError` with the line of the first fault.
    public static func parse(_ text: String) throws(ParseError) -> [(key: String, value: String)] {
        let chars = Array(text.unicodeScalars)
        var i = 0
        var line = 1
        var pairs: [(key: String, value: String)] = []

        func skipSpaceAndComments() throws(ParseError) {
            while i < chars.count {
                let c = chars[i]
                if c == "\n" { line += 1; i += 1 }
                else if c == " " || c == "\t" || c == "\r" { i += 1 }
                else if c == "/", i + 1 < chars.count, chars[i + 1] == "/" {
                    while i < chars.count, chars[i] != "\n" { i += 1 }
                } else if c == "/", i + 1 < chars.count, chars[i + 1] == "*" {
                    i += 2
                    while i + 1 < chars.count, !(chars[i] == "*" && chars[i + 1] == "/") {
                        if chars[i] == "\n" { line += 1 }
                        i += 1
                    }
                    guard i + 1 < chars.count else { throw ParseError(message: "unterminated comment", line: line) }
                    i += 2
                } else { return }
            }
        }
        func quoted() throws(ParseError) -> String {
            guard i < chars.count, chars[i] == "\"" else { throw ParseError(message: "expected a quoted string", line: line) }
            i += 1
            var out = String.UnicodeScalarView()
            while i < chars.count, chars[i] != "\"" {
                if chars[i] == "\n" { line += 1 }
                if chars[i] == "\\", i + 1 < chars.count {
                    i += 1
                    switch chars[i] {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "r": out.append("\r")
                    default: out.append(chars[i])
                    }
                } else {
                    out.append(chars[i])
                }
                i += 1
            }
            guard i < chars.count else { throw ParseError(message: "unterminated string", line: line) }
            i += 1
            return String(out)
        }

        try skipSpaceAndComments()
        while i < chars.count {
            let key = try quoted()
            try skipSpaceAndComments()
            guard i < chars.count, chars[i] == "=" else { throw ParseError(message: "expected '=' after \"\(key)\"", line: line) }
            i += 1
            try skipSpaceAndComments()
            let value = try quoted()
            try skipSpaceAndComments()
            guard i < chars.count, chars[i] == ";" else { throw ParseError(message: "expected ';' after the value of \"\(key)\"", line: line) }
            i += 1
            pairs.append((key, value))
            try skipSpaceAndComments()
        }
        return pairs
    }
}
