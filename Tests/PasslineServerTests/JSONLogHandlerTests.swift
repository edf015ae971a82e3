import Foundation
import Logging
import PasslineServer
import Testing

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    @Test("a line stays one line and valid JSON whatever the message holds: quotes, newlines, control characters, nested metadata")
    func escaping() throws {
        let bytes = JSONLogHandler.line(time: Date(timeIntervalSince1970: 0), level: .warning, label: "t", message: "a \"quoted\"\nsecond line\u{1}\u{2028}",
                                        metadata: ["n": .stringConvertible(3), "list": .array([.string("x")]), "map": .dictionary(["k": .string("v")]), "message": .string("shadow")])
        #expect(!bytes.contains(UInt8(ascii: "\n")))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["message"] as? String == "a \"quoted\"\nsecond line\u{1}\u{2028}" && object["time"] as? String == "1970-01-01T00:00:00.000Z")
        #expect(object["n"] as? Int == 3 && (object["list"] as? [String]) == ["x"] && (object["map"] as? [String: String]) == ["k": "v"] && object["level"] as? String == "warning")
    }
}
