import Foundation
import PasslineJSON
import Testing

@Suite("JSON parsing and writing")
struct JSONTests {
    @Test("keeps key order, integers and text through a round trip")
    func roundTrip() throws {
        let text = #"{"z":1,"a":[true,false,null,-12,3.5,"x"],"m":{"k":"Zoë \"quoted\"\n🌸\u0001"}}"#
        let value = try JSONParser.parse(text)
        #expect(value["z"] == .int(1))
        #expect(value.objectValue?.keys == ["z", "a", "m"])
        #expect(value["m"]?["k"] == .string("Zoë \"quoted\"\n🌸\u{1}"))
        let written = JSONWriter.string(value)
        #expect(try JSONParser.parse(written) == value)
        // An independent parser reads what we write.
        let foundation = try JSONSerialization.jsonObject(with: Data(written.utf8)) as! [String: Any]
        #expect((foundation["m"] as! [String: String])["k"] == "Zoë \"quoted\"\n🌸\u{1}")
    }

    @Test("large integers stay integers; fractions and exponents are doubles")
    func numbers() throws {
        #expect(try JSONParser.parse("9007199254740993") == .int(9_007_199_254_740_993))
        #expect(try JSONParser.parse("-0.5") == .double(-0.5))
        #expect(try JSONParser.parse("1e3") == .double(1000))
        #expect(JSONWriter.string(.double(120)) == "120")
    }

    @Test("surrogate pairs decode to one character")
    func surrogates() throws {
        #expect(try JSONParser.parse(#""\ud83c\udf38""#) == .string("🌸"))
        #expect(throws: JSONParseError.self) { try JSONParser.parse(#""\ud83c""#) }
    }

    @Test("errors name the fault and its line and column", arguments: [
        ("{\n  \"a\": 1,\n  \"a\": 2\n}", "duplicate key \"a\"", 3),
        ("{\"a\": 1,}", "expected a quoted key", 1),
        ("[1 2]", "expected ',' or ']'", 1),
        ("01", "leading zeros", 1),
        ("\"tab\there\"", "control character", 1),
        ("{\"a\": tru}", "expected true", 1),
        ("[1] x", "after the end", 1),
        ("", "unexpected end of input", 1),
    ])
    func errors(input: String, message: String, line: Int) {
        do {
            _ = try JSONParser.parse(input)
            Issue.record("\(input) parsed")
        } catch {
            #expect(error.message.contains(message), "\(error)")
            #expect(error.line == line)
        }
    }

    @Test("nesting is bounded, so hostile input cannot exhaust the stack")
    func depth() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
    }

    @Test("invalid UTF-8 in a string is rejected")
    func invalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test("the writer escapes everything JSON requires")
    func escaping() {
        var out: [UInt8] = []
        JSONWriter.writeString("\"\\\n\r\t\u{0}\u{1F}/é", into: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""\"\\\n\r\t\u0000\u001f/é""#)
    }

    @Test("object members can be replaced and removed")
    func objectEditing() {
        var object = JSONObject([("a", .int(1)), ("b", .int(2)), ("c", .int(3))])
        object["b"] = nil
        object["a"] = .string("x")
        object["d"] = .null
        #expect(object.keys == ["a", "c", "d"])
        #expect(object["a"] == .string("x"))
        #expect(object["c"] == .int(3))
    }
}
