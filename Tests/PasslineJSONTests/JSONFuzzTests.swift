import PasslineJSON
import PasslineTestSupport
import Testing

@Suite("The JSON parser under random and mutated input")
struct JSONFuzzTests {
    static let samples = [
        #"{"template":"loyalty","memberId":"M-1","memberName":"Ada","points":120,"fields":{"tier":"Gold"}}"#,
        #"{"points":-50,"reason":"Facial","amount":8500}"#,
        #"[1, -0, 2.5e10, 1E-7, true, false, null, "\u00e9\ud83d\ude00\n", {"a": [[]]}]"#,
        #"{"pushToken":"0123456789abcdef"}"#,
        "9223372036854775807", "-9223372036854775808", "1e308",
    ]

    @Test("parses or throws its error, never traps; what parses writes out as JSON that reads back the same")
    func mutated() {
        var fuzz = Fuzz()
        let seed = fuzz.seed
        let tried = fuzz.run { fuzz in
            let input = fuzz.int(0...3) == 0 ? fuzz.bytes(maxCount: 64, alphabet: Array(#"{}[]":,-+.eE0123456789tfnulr\ "#.utf8))
                                              : fuzz.mutate(Array(fuzz.pick(Self.samples).utf8), alphabet: Array(#"{}[]":,-.eE09\"#.utf8))
            do {
                let value = try JSONParser.parse(input)
                let written = JSONWriter.bytes(value)
                let again = (try? JSONParser.parse(written)).map(JSONWriter.bytes)
                #expect(again == written, "seed \(seed): \(String(decoding: input, as: UTF8.self).debugDescription) wrote \(String(decoding: written, as: UTF8.self))")
            } catch {
                #expect(error is JSONParseError && !"\(error)".isEmpty)
            }
        }
        #expect(tried >= 200)
    }

    @Test("numbers at and past the edges, and nesting past the limit, are errors that say so")
    func edges() throws {
        #expect(try JSONParser.parse("-9223372036854775808") == .int(.min))
        #expect(try JSONParser.parse("9223372036854775807") == .int(.max))
        #expect(try JSONParser.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(throws: JSONParseError.self) { try JSONParser.parse("1e400") }
        #expect(throws: JSONParseError.self) { try JSONParser.parse("-1e400") }
        #expect(throws: JSONParseError.self) { try JSONParser.parse(String(repeating: "[", count: 100_000)) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse(String(repeating: "{\"a\":", count: 100_000)) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse("\"\\ud800\"x") }
    }
}
