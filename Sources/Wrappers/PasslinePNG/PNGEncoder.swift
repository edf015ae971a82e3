internal import CZlib

/// A small PNG encoder for black-and-white images such as QR codes: 1-bit grayscale, no
/// interlacing, every chunk with its CRC, the pixels deflated by zlib.
public enum PNGEncoder {
    /// A failure to encode.
    public struct EncodingError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Encodes a bitmap.
    /// - Parameters:
    ///   - width: pixels per row.
    ///   - height: rows.
    ///   - isDark: whether the pixel at (x, y) is dark.
    /// - Throws: `EncodingError` when the size is zero or too large, or zlib fails.
    public static func blackAndWhite(width: Int, height: Int, isDark: (Int, Int) -> Bool) throws -> [UInt8] {
        guard width > 0, height > 0, width <= 16_384, height <= 16_384 else {
            throw EncodingError(description: "A PNG of \(width)×\(height) pixels is outside 1 to 16384 a side.")
        }
        // Scanlines: a filter byte (0, none), then the row's pixels 8 to a byte, 1 = white.
        let rowBytes = (width + 7) / 8
        var raw = [UInt8](repeating: 0, count: (rowBytes + 1) * height)
        for y in 0..<height {
            let base = y * (rowBytes + 1) + 1
            for x in 0..<width where !isDark(x, y) {
                raw[base + x / 8] |= 0x80 >> UInt8(x % 8)
            }
        }
        return try png(width: width, height: height, scanlines: raw)
    }

    /// Encodes a grid of cells drawn `scale` pixels a side, such as a QR code's modules. Each
    /// grid row is packed once and repeated, instead of asking about every pixel.
    /// - Parameters:
    ///   - columns: cells per row.
    ///   - rows: rows of cells.
    ///   - scale: pixels a cell.
    ///   - isDark: whether the cell at (column, row) is dark.
    /// - Throws: `EncodingError` when the image would be empty or too large.
    public static func blackAndWhite(columns: Int, rows: Int, scale: Int, isDark: (Int, Int) -> Bool) throws -> [UInt8] {
        let width = columns * scale, height = rows * scale
        guard scale > 0, width > 0, height > 0, width <= 16_384, height <= 16_384 else {
            throw EncodingError(description: "A PNG of \(width)×\(height) pixels is outside 1 to 16384 a side.")
        }
        let rowBytes = (width + 7) / 8
        var raw = [UInt8](repeating: 0, count: (rowBytes + 1) * height)
        var packed = [UInt8](repeating: 0, count: rowBytes)
        for row in 0..<rows {
            for i in packed.indices { packed[i] = 0 }
            for column in 0..<columns where !isDark(column, row) {
                for x in (column * scale)..<((column + 1) * scale) { packed[x >> 3] |= 0x80 >> UInt8(x & 7) }
            }
            for repeatIndex in 0..<scale {
                let base = (row * scale + repeatIndex) * (rowBytes + 1) + 1
                raw.replaceSubrange(base..<(base + rowBytes), with: packed)
            }
        }
        return try png(width: width, height: height, scanlines: raw)
    }

    private static func png(width: Int, height: Int, scanlines raw: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        appendUInt32(UInt32(width), to: &header)
        appendUInt32(UInt32(height), to: &header)
        header += [1, 0, 0, 0, 0] // bit depth 1, grayscale, deflate, adaptive filtering, no interlace
        appendChunk("IHDR", header, to: &out)
        appendChunk("IDAT", try deflate(raw), to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    private static func deflate(_ bytes: [UInt8]) throws -> [UInt8] {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        // Level 6, not 9: the rows repeat, and level 9's long match chains made a long URL's
        // code 3× slower to encode for a few bytes less (bench qr).
        let status = compress2(&out, &length, bytes, uLong(bytes.count), 6)
        guard status == Z_OK else { throw EncodingError(description: "zlib could not compress the image (status \(status)).") }
        return Array(out.prefix(Int(length)))
    }

    private static func appendChunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        appendUInt32(UInt32(data.count), to: &out)
        let typeAndData = Array(type.utf8) + data
        out += typeAndData
        let crc = typeAndData.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        appendUInt32(UInt32(crc), to: &out)
    }

    private static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
        out += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
