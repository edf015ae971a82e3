import Foundation
import PasslinePNG
import PasslineQR
import PasslineTestSupport
import Testing

@Suite("QR codes")
struct QRTests {
    static let texts = [
        "M-100200",
        "https://passline.example/c/" + String(repeating: "Zx8fQ2", count: 30) + "?utm_source=front-desk&utm_medium=qr",
        "Zoë O'Brien 🌸 — 会員 № 42",
    ]

    /// What zbarimg, an independent decoder, reads from a PNG file.
    func decode(_ png: URL) async throws -> String {
        let result = try await TestSupport.run("zbarimg", ["--quiet", "--raw", png.path])
        #expect(result.status == 0, "zbarimg: \(result.stderr)")
        return result.stdout.hasSuffix("\n") ? String(result.stdout.dropLast()) : result.stdout
    }

    @Test("zbarimg reads back the PNG at every level", arguments: texts, QRCode.Level.allCases)
    func pngRoundTrip(text: String, level: QRCode.Level) async throws {
        let file = TestSupport.temporaryFolder().appendingPathComponent("code.png")
        TestSupport.write(try QRCode(text, level: level).png(scale: 4), to: file)
        #expect(try await decode(file) == text)
    }

    @Test("zbarimg reads back the SVG, rasterised by rsvg-convert, at every level", arguments: texts, QRCode.Level.allCases)
    func svgRoundTrip(text: String, level: QRCode.Level) async throws {
        let folder = TestSupport.temporaryFolder()
        TestSupport.write(Array(try QRCode(text, level: level).svg(pixelsPerModule: 4).utf8), to: folder.appendingPathComponent("code.svg"))
        let raster = try await TestSupport.run("rsvg-convert", ["code.svg", "-o", "code.png"], in: folder)
        #expect(raster.status == 0, "\(raster.stderr)")
        await #expect(try await decode(folder.appendingPathComponent("code.png")) == text)
    }

    @Test("text over the level's capacity is an error naming the limit; at the limit it encodes")
    func capacity() throws {
        for level in QRCode.Level.allCases {
            let fits = String(repeating: "a", count: level.byteCapacity)
            #expect(try QRCode(fits, level: level).version == 40)
            #expect(throws: QRCode.EncodingError.self) { try QRCode(fits + "a", level: level) }
            do {
                _ = try QRCode(fits + "a", level: level)
            } catch {
                #expect("\(error)".contains("at most \(level.byteCapacity)"))
            }
        }
        #expect(throws: QRCode.EncodingError.self) { try QRCode("") }
    }

    @Test("the smallest version that holds the text is chosen")
    func versions() throws {
        #expect(try QRCode("M-100200", level: .medium).version == 1)
        #expect(try QRCode("M-100200", level: .medium).size == 21)
        #expect(try QRCode(String(repeating: "x", count: 100), level: .medium).version == 6)
    }

    @Test("the PNG is well-formed: signature, IHDR for 1-bit grayscale, every chunk's CRC right")
    func pngStructure() async throws {
        let code = try QRCode("M-100200")
        let png = try code.png(scale: 3)
        let file = TestSupport.temporaryFolder().appendingPathComponent("c.png")
        TestSupport.write(png, to: file)
        // An independent check of each chunk's CRC, with Python's zlib.
        let script = """
            import struct, sys, zlib
            data = open(sys.argv[1], 'rb').read()
            assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
            i, chunks = 8, []
            while i < len(data):
                n, = struct.unpack('>I', data[i:i+4]); kind = data[i+4:i+8]; body = data[i+8:i+8+n]
                crc, = struct.unpack('>I', data[i+8+n:i+12+n])
                assert crc == zlib.crc32(kind + body), kind
                chunks.append(kind.decode()); i += 12 + n
            w, h, depth, colour = struct.unpack('>IIBB', data[16:26])
            print(' '.join(chunks), w, h, depth, colour)
            """
        let result = try await TestSupport.run("python3", ["-c", script, file.path])
        #expect(result.status == 0, "\(result.stderr)")
        let side = (21 + 8) * 3
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "IHDR IDAT IEND \(side) \(side) 1 0")
    }

    @Test("the SVG has a viewBox with the quiet zone, and escapes its colours")
    func svgShape() throws {
        let svg = try QRCode("M-100200").svg(foreground: "#2e1a47", background: "\"><script>", pixelsPerModule: 10)
        #expect(svg.contains(#"viewBox="0 0 29 29""#))
        #expect(svg.contains(#"width="290""#))
        #expect(svg.contains(##"fill="#2e1a47""##))
        #expect(!svg.contains("<script>"))
        #expect(svg.contains("shape-rendering=\"crispEdges\""))
    }

    @Test("a bitmap of zero or absurd size is refused")
    func pngLimits() {
        #expect(throws: PNGEncoder.EncodingError.self) { try PNGEncoder.blackAndWhite(width: 0, height: 10) { _, _ in true } }
        #expect(throws: PNGEncoder.EncodingError.self) { try PNGEncoder.blackAndWhite(width: 20_000, height: 10) { _, _ in true } }
    }
}
