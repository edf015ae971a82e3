internal import CZlib

/// Reads a PNG through to its last pixel without keeping the pixels: every chunk's length and
/// CRC, the header's combination of depth and colour type, the image data inflated by zlib to
/// exactly the size the header promises, and every scanline's filter type. An upload that
/// passes is an image Wallet can draw; one that does not gets the reason.
public enum PNGChecker {
    /// What a valid PNG's header says.
    public struct Image: Sendable, Equatable {
        public let width: Int
        public let height: Int
        public let bitDepth: Int
        public let colorType: Int
        public let interlaced: Bool
    }

    /// Why the bytes are not a PNG Wallet can draw.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The most pixels an image may have: Wallet's largest image (a background at @3x) is
    /// 540×660, so this is generous, and it bounds what a crafted header can make us inflate.
    public static let maxPixels = 4096 * 4096

    /// Checks the whole file.
    /// - Throws: `Failure` naming the first fault found.
    public static func check(_ bytes: [UInt8]) throws -> Image {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count >= 8, bytes.starts(with: signature) else { throw Failure("does not start with the PNG signature") }
        var at = 8
        var image: Image?
        var data: [UInt8] = []
        var ended = false
        var sawPalette = false
        while !ended {
            guard bytes.count - at >= 12 else { throw Failure("ends in the middle of a chunk (at byte \(at))") }
            let length = Int(u32(bytes, at))
            guard length <= 0x7FFF_FFFF, length <= bytes.count - at - 12 else { throw Failure("has a chunk longer than the file (at byte \(at))") }
            let type = Array(bytes[(at + 4)..<(at + 8)])
            let name = String(decoding: type, as: UTF8.self)
            guard type.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) }) else { throw Failure("has a chunk with an invalid type (at byte \(at))") }
            let body = at + 8
            let expected = u32(bytes, body + length)
            let actual = bytes[(at + 4)..<(body + length)].withContiguousStorageIfAvailable { buffer in
                UInt32(crc32(0, buffer.baseAddress, uInt(buffer.count)))
            } ?? UInt32(Array(bytes[(at + 4)..<(body + length)]).withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) })
            guard expected == actual else { throw Failure("has a corrupt \(name) chunk (its CRC does not match)") }
            switch name {
            case "IHDR":
                guard image == nil, at == 8, length == 13 else { throw Failure("has a misplaced or malformed IHDR chunk") }
                image = try header(Array(bytes[body..<(body + 13)]))
            case "PLTE":
                sawPalette = true
            case "IDAT":
                guard image != nil else { throw Failure("has image data before its header") }
                data.append(contentsOf: bytes[body..<(body + length)])
            case "IEND":
                ended = true
            default:
                // Unknown critical chunks (upper-case first letter) cannot be skipped by a decoder.
                if type[0] < 0x61 { throw Failure("has a critical chunk \(name) that no PNG decoder knows") }
            }
            at = body + length + 4
        }
        guard let image else { throw Failure("has no IHDR chunk") }
        if image.colorType == 3 && !sawPalette { throw Failure("is a palette image without a palette (PLTE)") }
        guard !data.isEmpty else { throw Failure("has no image data (IDAT)") }
        try inflateAndCheck(data, image)
        return image
    }

    private static func header(_ h: [UInt8]) throws -> Image {
        let width = Int(u32(h, 0)), height = Int(u32(h, 4))
        guard width > 0, height > 0, width <= 0x7FFF_FFFF, height <= 0x7FFF_FFFF else { throw Failure("has a width or height of 0 or over 2³¹") }
        guard width * height <= maxPixels else {
            throw Failure("is \(width)×\(height) pixels, more than the \(maxPixels) this service accepts")
        }
        let depth = Int(h[8]), color = Int(h[9])
        let allowed: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
        guard let depths = allowed[color], depths.contains(depth) else { throw Failure("has bit depth \(depth) with colour type \(color), which PNG does not allow") }
        guard h[10] == 0, h[11] == 0, h[12] <= 1 else { throw Failure("uses an unknown compression, filter or interlace method") }
        return Image(width: width, height: height, bitDepth: depth, colorType: color, interlaced: h[12] == 1)
    }

    /// Bytes of one scanline of `width` pixels, with its filter byte.
    private static func rowBytes(_ width: Int, _ image: Image) -> Int {
        let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][image.colorType]!
        return (width * channels * image.bitDepth + 7) / 8 + 1
    }

    /// The (width, height) of each pass: one for a plain image, Adam7's seven for an interlaced one.
    private static func passes(_ image: Image) -> [(Int, Int)] {
        guard image.interlaced else { return [(image.width, image.height)] }
        let adam7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        return adam7.map { x, y, dx, dy in
            (image.width > x ? (image.width - x + dx - 1) / dx : 0, image.height > y ? (image.height - y + dy - 1) / dy : 0)
        }
    }

    private static func inflateAndCheck(_ data: [UInt8], _ image: Image) throws {
        // Each scanline must start with a filter type 0...4; where the next one starts is known
        // from the pass sizes, so the pixels stream through a small buffer.
        var rowStarts: [(rows: Int, bytes: Int)] = []
        var total = 0
        for (w, h) in passes(image) where w > 0 && h > 0 {
            let row = rowBytes(w, image)
            rowStarts.append((h, row))
            total += row * h
        }
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw Failure("could not be read (zlib)") }
        defer { inflateEnd(&stream) }
        var produced = 0
        var pass = 0, rowInPass = 0, offsetInRow = 0
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = data
        var status: Int32 = Z_OK
        try input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            repeat {
                let count = try chunk.withUnsafeMutableBufferPointer { out -> Int in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END || (status == Z_BUF_ERROR && stream.avail_in == 0) else {
                        throw Failure("has image data that does not inflate (zlib status \(status))")
                    }
                    return out.count - Int(stream.avail_out)
                }
                guard produced + count <= total else { throw Failure("has more image data than its \(image.width)×\(image.height) header allows") }
                var i = 0
                while i < count {
                    if offsetInRow == 0 {
                        guard chunk[i] <= 4 else { throw Failure("has a scanline with unknown filter type \(chunk[i])") }
                    }
                    let step = min(count - i, rowStarts[pass].bytes - offsetInRow)
                    i += step
                    offsetInRow += step
                    if offsetInRow == rowStarts[pass].bytes {
                        offsetInRow = 0
                        rowInPass += 1
                        if rowInPass == rowStarts[pass].rows { rowInPass = 0; pass += 1 }
                    }
                }
                produced += count
                if status == Z_BUF_ERROR { break }
            } while status != Z_STREAM_END
        }
        guard status == Z_STREAM_END else { throw Failure("has image data that ends early") }
        guard produced == total else { throw Failure("has \(produced) bytes of pixels where its \(image.width)×\(image.height) header needs \(total)") }
    }

    private static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }
}
