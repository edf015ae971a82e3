import Foundation
@testable import PasslineServer
import PasslineTestSupport
import Testing

@Suite("HTTP dates: parsed strictly, never trapping, and a pass is never stale at one-second resolution")
struct HTTPDateTests {
    @Test("the three forms RFC 9110 names, and their round trip")
    func forms() {
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == 784_111_777)
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.parse("Thu, 29 Feb 2024 23:59:59 GMT") == 1_709_251_199)
        #expect(HTTPDate.parse("Fri, 31 Dec 9999 23:59:60 GMT") == HTTPDate.parse("Fri, 31 Dec 9999 23:59:59 GMT"))
        var fuzz = Fuzz()
        let seed = fuzz.seed
        fuzz.run { fuzz in
            let seconds = Int64(fuzz.int(-62_135_596_800...253_402_300_799))
            #expect(HTTPDate.parse(HTTPDate.format(seconds)) == seconds, "seed \(seed): \(seconds) → \(HTTPDate.format(seconds))")
        }
    }

    @Test("dates that do not exist, or numbers out of range, are absent, not a crash")
    func hostile() {
        for text in ["Mon, 01 Jan 99999999999 00:00:00 GMT", "Mon, 01 Jan 9223372036854775807 00:00:00 GMT", "Mon, 99 Jan 2024 00:00:00 GMT",
                     "Mon, 30 Feb 2024 00:00:00 GMT", "Mon, 01 Jan 2024 24:00:00 GMT", "Mon, 01 Jan 2024 00:60:00 GMT", "Mon, -1 Jan 2024 00:00:00 GMT",
                     "Mon, 01 Jan 0000 00:00:00 GMT", "Mon, 01 Foo 2024 00:00:00 GMT", "Mon, 01 Jan 2024 00:00:00 UTC", "Mon, ٠١ Jan 2024 00:00:00 GMT",
                     "Mon, 01 Jan 2024 00:00 GMT", "Mon, 01 Jan 2024 +0:00:00 GMT", "", "GMT", String(repeating: "9", count: 10_000),
                     "Sunday, 06-Nov-9999 08:49:37 GMT", "Sun Nov 99 08:49:37 1994"] {
            #expect(HTTPDate.parse(text) == nil, "\(text.prefix(60))")
        }
        #expect(HTTPDate.format(.max).hasSuffix("9999 23:59:59 GMT") && HTTPDate.format(.min).contains(" 0001 "))
    }

    @Test("fuzz: random and mutated dates parse or are absent, and what parses formats back the same")
    func fuzzed() {
        var fuzz = Fuzz()
        let seed = fuzz.seed
        let samples = ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"]
        let tried = fuzz.run { fuzz in
            let text = fuzz.bool() ? fuzz.mutate(fuzz.pick(samples), alphabet: "0123456789:, -GMTSunNov")
                                   : String(decoding: fuzz.bytes(maxCount: 40, alphabet: Array("0123456789:, -GMTSunNovJanFeb".utf8)), as: UTF8.self)
            if let seconds = HTTPDate.parse(text) {
                #expect(HTTPDate.parse(HTTPDate.format(seconds)) == seconds, "seed \(seed): \(text.debugDescription)")
            }
        }
        #expect(tried >= 200)
    }

    @Test("a copy served in the second of its change says the second before; a later one is 304 until the card changes")
    func freshness() {
        let change: Int64 = 1_700_000_000_500      // the card changed half-way through second S
        let second = change / 1000
        // Fetched in the same second: Last-Modified is S - 1, so a second change in S is newer.
        let sameSecond = PassDownload.freshness(updatedAt: change, ifModifiedSince: nil, now: change + 100)
        #expect(sameSecond.lastModified == HTTPDate.format(second - 1))
        let secondChange = change + 300             // another change, still in S
        #expect(!PassDownload.freshness(updatedAt: secondChange, ifModifiedSince: sameSecond.lastModified, now: secondChange + 100).notModified)
        // Fetched a second later: Last-Modified is S, and the device's copy is current.
        let later = PassDownload.freshness(updatedAt: secondChange, ifModifiedSince: nil, now: secondChange + 1_000)
        #expect(later.lastModified == HTTPDate.format(second))
        #expect(PassDownload.freshness(updatedAt: secondChange, ifModifiedSince: later.lastModified, now: secondChange + 5_000).notModified)
        // Any change after that copy falls in a later second, and is newer.
        #expect(!PassDownload.freshness(updatedAt: secondChange + 1_000, ifModifiedSince: later.lastModified, now: secondChange + 1_100).notModified)
        // A header that is no date is absent.
        #expect(!PassDownload.freshness(updatedAt: change, ifModifiedSince: "Mon, 01 Jan 99999999999 00:00:00 GMT", now: change + 5_000).notModified)
    }
}
