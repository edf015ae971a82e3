import Foundation
import PasslineQR

/// What a camera sees of a wallet card's QR code: grey frames for the barcode reader, and a
/// video file for Chromium's fake camera (`--use-file-for-fake-video-capture`).
public enum CameraFrames {
    /// An 8-bit grey frame with the code of `text` off-centre on a grey background.
    public static func grey(_ text: String, width: Int = 640, height: Int = 480, scale: Int = 6, at origin: (x: Int, y: Int) = (150, 90)) throws -> [UInt8] {
        let code = try QRCode(text)
        var pixels = [UInt8](repeating: 170, count: width * height)
        let quiet = QRCode.quietZone, side = (code.size + 2 * quiet) * scale
        for y in 0..<min(side, height - origin.y) {
            for x in 0..<min(side, width - origin.x) {
                let module = (x / scale - quiet, y / scale - quiet)
                let dark = module.0 >= 0 && module.1 >= 0 && module.0 < code.size && module.1 < code.size && code.isDark(module.0, module.1)
                pixels[(origin.y + y) * width + origin.x + x] = dark ? 20 : 235
            }
        }
        return pixels
    }

    /// A Y4M video (4:2:0, no colour) of `seconds` at 10 frames a second, every frame the code.
    public static func y4m(_ text: String, width: Int = 640, height: Int = 480, seconds: Int = 2) throws -> [UInt8] {
        let luma = try grey(text, width: width, height: height)
        let chroma = [UInt8](repeating: 128, count: (width / 2) * (height / 2) * 2)
        var video = Array("YUV4MPEG2 W\(width) H\(height) F10:1 Ip A1:1 C420jpeg\n".utf8)
        for _ in 0..<(seconds * 10) {
            video += Array("FRAME\n".utf8)
            video += luma
            video += chroma
        }
        return video
    }
}
