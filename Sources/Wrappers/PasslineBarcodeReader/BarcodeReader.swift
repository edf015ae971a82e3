import CZbar
import Dispatch

/// Reads barcodes out of camera frames with libzbar: what the front desk's camera sees of a
/// wallet card, decoded on the server (Chromium on Linux has no `BarcodeDetector`).
public enum BarcodeReader {
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// The largest frame accepted: 1920 × 1080 (a camera's full HD), 2 MiB of luminance.
    public static let maxPixels = 1920 * 1080

    /// The texts of the barcodes (QR, Code 128, EAN and the others zbar knows) in an 8-bit
    /// grayscale image, rows top to bottom; empty when there are none.
    /// - Throws: `Error` when the bytes do not make a `width` × `height` image.
    public static func decode(gray: [UInt8], width: Int, height: Int) throws -> [String] {
        guard width > 0, height > 0, width <= 4096, height <= 4096, width * height <= maxPixels else {
            throw Error(description: "A frame must be 1 to \(maxPixels) pixels (at most 4096 on a side), found \(width) × \(height).")
        }
        guard gray.count == width * height else {
            throw Error(description: "A \(width) × \(height) frame has \(width * height) bytes of luminance, found \(gray.count).")
        }
        guard let scanner = zbar_image_scanner_create() else { throw Error(description: "zbar could not make a scanner (out of memory).") }
        defer { zbar_image_scanner_destroy(scanner) }
        zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_ENABLE, 1)
        guard let image = zbar_image_create() else { throw Error(description: "zbar could not make an image (out of memory).") }
        defer { zbar_image_destroy(image) }
        zbar_image_set_format(image, passline_zbar_y800())
        zbar_image_set_size(image, UInt32(width), UInt32(height))
        return gray.withUnsafeBytes { pixels -> [String] in
            // No cleanup handler: the buffer is Swift's and outlives the scan.
            zbar_image_set_data(image, pixels.baseAddress, UInt(pixels.count), nil)
            guard zbar_scan_image(scanner, image) > 0 else { return [] }
            var found: [String] = []
            var symbol = zbar_image_first_symbol(image)
            while let current = symbol, found.count < 16 {
                if let data = zbar_symbol_get_data(current) {
                    let length = Int(zbar_symbol_get_data_length(current))
                    found.append(String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self))
                }
                symbol = zbar_symbol_next(current)
            }
            // The image must not free Swift's buffer when it goes.
            zbar_image_set_data(image, nil, 0, nil)
            return found
        }
    }

    /// `decode` on a thread of Dispatch's pool: a scan takes milliseconds of CPU, which must
    /// not hold up an event loop.
    public static func decodeOffLoop(gray: [UInt8], width: Int, height: Int) async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try decode(gray: gray, width: width, height: height) }) }
        }
    }
}
