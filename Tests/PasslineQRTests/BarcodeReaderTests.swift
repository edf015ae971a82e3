import PasslineBarcodeReader
import PasslineTestSupport
import Testing

@Suite("Reading QR codes from camera frames (libzbar)")
struct BarcodeReaderTests {
    @Test("a code in a frame reads back; a frame without one reads nothing")
    func roundTrip() throws {
        #expect(try BarcodeReader.decode(gray: try CameraFrames.grey("M-100123"), width: 640, height: 480) == ["M-100123"])
        #expect(try BarcodeReader.decode(gray: try CameraFrames.grey("https://cards.example.com/c/AbC123"), width: 640, height: 480) == ["https://cards.example.com/c/AbC123"])
        #expect(try BarcodeReader.decode(gray: [UInt8](repeating: 128, count: 320 * 240), width: 320, height: 240).isEmpty)
    }

    @Test("frames of the wrong size are refused with the sizes named, never read past")
    func badFrames() {
        for (count, width, height) in [(100, 10, 11), (0, 0, 0), (16, -4, -4), (4, Int.max, 2), (1, 5000, 1), (1, 1, 1920 * 1080 + 1)] {
            #expect(throws: BarcodeReader.Error.self) { try BarcodeReader.decode(gray: [UInt8](repeating: 0, count: count), width: width, height: height) }
        }
    }
}
