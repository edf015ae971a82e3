@testable import PasslinePNG
import PasslineTestSupport
import Testing

@Suite("PNG checking")
struct PNGCheckerTests {
    /// PNG's CRC-32, written out so that the test does not share the code it checks.
    static func crc(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    /// The chunks of a PNG as (type, body).
    static func chunks(_ png: [UInt8]) -> [(String, [UInt8])] {
        var at = 8, out: [(String, [UInt8])] = []
        while at + 12 <= png.count {
            let length = Int(png[at..<(at + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard at + 12 + length <= png.count else { break }
            out.append((String(decoding: png[(at + 4)..<(at + 8)], as: UTF8.self), Array(png[(at + 8)..<(at + 8 + length)])))
            at += 12 + length
        }
        return out
    }

    /// A PNG made of these chunks, every CRC right, so a check must look past the CRCs.
    static func png(_ chunks: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        for (type, body) in chunks {
            let n = UInt32(body.count)
            out += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            let typed = Array(type.utf8) + body
            out += typed
            let c = crc(typed)
            out += [UInt8(c >> 24), UInt8(c >> 16 & 0xFF), UInt8(c >> 8 & 0xFF), UInt8(c & 0xFF)]
        }
        return out
    }

    static func sample() throws -> [UInt8] {
        try PNGEncoder.blackAndWhite(width: 37, height: 21) { x, y in (x * y) % 3 == 0 }
    }

    @Test("real images pass, with their header's facts: the encoder's and every template image shipped")
    func valid() throws {
        #expect(try PNGChecker.check(Self.sample()) == PNGChecker.Image(width: 37, height: 21, bitDepth: 1, colorType: 0, interlaced: false))
        let images = TestSupport.templateFiles("loyalty").filter { $0.key.hasSuffix(".png") }
        #expect(images.count >= 5)
        for (name, bytes) in images {
            #expect(throws: Never.self, "\(name)") { try PNGChecker.check(bytes) }
        }
    }

    @Test("each kind of broken image is refused with its reason")
    func broken() throws {
        let good = try Self.sample(), parts = Self.chunks(good)
        func reason(_ bytes: [UInt8]) -> String {
            do { _ = try PNGChecker.check(bytes); return "accepted" } catch { return "\(error)" }
        }
        #expect(reason([0xFF, 0xD8, 0xFF, 0xE0]).contains("signature"))
        #expect(reason(Array(good.prefix(good.count - 5))).contains("ends"))
        var flipped = good
        flipped[30] ^= 1
        #expect(reason(flipped).contains("CRC"))
        // A header that promises more pixels than the data holds: the header alone would pass.
        var header = parts[0].1
        header[7] = 200  // height 21 → 200
        #expect(reason(Self.png([("IHDR", header)] + parts.dropFirst())).contains("bytes of pixels"))
        // Image data that is not zlib.
        #expect(reason(Self.png([parts[0], ("IDAT", [1, 2, 3, 4, 5, 6]), ("IEND", [])])).contains("inflate"))
        // Bit depth 3 does not exist; a 100,000 × 100,000 header would make anyone inflate 1.25 GB.
        var depth = parts[0].1
        depth[8] = 3
        #expect(reason(Self.png([("IHDR", depth)] + parts.dropFirst())).contains("bit depth 3"))
        var huge = parts[0].1
        huge[0...7] = [0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0][...]
        #expect(reason(Self.png([("IHDR", huge)] + parts.dropFirst())).contains("more than"))
        #expect(reason(Self.png([parts[0], ("IEND", [])])).contains("no image data"))
        #expect(reason(Self.png([parts[0], ("ABCD", [1]), parts[1], ("IEND", [])])).contains("critical chunk ABCD"))
        #expect(reason(Self.png(Array(parts.dropLast()))).contains("ends"))
    }

    @Test("fuzz: mutated images, their CRCs made right, are accepted or refused, never trap")
    func fuzz() throws {
        var fuzz = Fuzz()
        let seeds = [try Self.sample()] + TestSupport.templateFiles("loyalty").filter { $0.key.hasPrefix("icon") }.map(\.value)
        let seed = fuzz.seed
        var accepted = 0
        let tried = fuzz.run { fuzz in
            let base = fuzz.pick(seeds)
            var parts = Self.chunks(base)
            let index = fuzz.int(0...(parts.count - 1))
            parts[index].1 = fuzz.mutate(parts[index].1)
            let input = fuzz.bool() ? Self.png(parts) : fuzz.mutate(base)
            if (try? PNGChecker.check(input)) != nil { accepted += 1 }
        }
        #expect(tried >= 200, "seed \(seed)")
        _ = accepted
    }
}
