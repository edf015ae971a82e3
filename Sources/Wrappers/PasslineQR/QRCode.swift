import CQRencode

/// A QR code's module matrix, made by libqrencode.
public struct QRCode: Sendable, Equatable {
    /// Error correction: how much of the symbol may be damaged and still read.
    public enum Level: String, Sendable, CaseIterable {
        case low = "L", medium = "M", quartile = "Q", high = "H"

        /// The most bytes a version-40 symbol holds at this level in byte mode.
        public var byteCapacity: Int {
            switch self {
            case .low: 2953
            case .medium: 2331
            case .quartile: 1663
            case .high: 1273
            }
        }

        var c: QRecLevel {
            switch self {
            case .low: QR_ECLEVEL_L
            case .medium: QR_ECLEVEL_M
            case .quartile: QR_ECLEVEL_Q
            case .high: QR_ECLEVEL_H
            }
        }
    }

    /// Why a text cannot become a QR code.
    public struct EncodingError: Error, CustomStringConvertible, Sendable, Equatable {
        public let description: String
    }

    /// 1 to 40.
    public let version: Int
    /// Modules a side, without the quiet zone.
    public let size: Int
    public let level: Level
    /// Row-major, `size * size`, true for dark.
    public let modules: [Bool]

    /// Encodes `text` as UTF-8 bytes (byte mode, which every reader handles), choosing the
    /// smallest version that holds it.
    /// - Throws: `EncodingError` naming the capacity when the text is too long for the level.
    public init(_ text: String, level: Level = .medium) throws {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw EncodingError(description: "The text is empty; a QR code needs at least one character.") }
        guard bytes.count <= level.byteCapacity else {
            throw EncodingError(description: "The text is \(bytes.count) bytes; a QR code at level \(level.rawValue) holds at most \(level.byteCapacity). Shorten it or use level L.")
        }
        passline_clear_errno()
        guard let code = bytes.withUnsafeBufferPointer({ QRcode_encodeData(Int32($0.count), $0.baseAddress, 0, level.c) }) else {
            let reason = passline_errno() == ERANGE
                ? "The text is \(bytes.count) bytes, more than a QR code at level \(level.rawValue) holds (\(level.byteCapacity))."
                : "libqrencode could not encode the text (errno \(passline_errno()))."
            throw EncodingError(description: reason)
        }
        defer { QRcode_free(code) }
        let size = Int(code.pointee.width)
        // Bit 0 of each byte is the module's colour; the other bits are libqrencode's bookkeeping.
        let data = UnsafeBufferPointer(start: code.pointee.data, count: size * size)
        self.modules = data.map { $0 & 1 == 1 }
        self.size = size
        self.version = Int(code.pointee.version)
        self.level = level
    }

    /// Whether the module at (x, y) is dark; false outside the symbol (the quiet zone).
    public func isDark(_ x: Int, _ y: Int) -> Bool {
        x >= 0 && y >= 0 && x < size && y < size && modules[y * size + x]
    }
}
