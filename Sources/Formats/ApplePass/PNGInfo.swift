/// The header facts of a PNG image: enough to check that a file is a PNG and how big it is.
public struct PNGInfo: Sendable, Equatable {
    public let width: Int
    public let height: Int

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// Reads the signature and the IHDR chunk; nil when the bytes are not a PNG.
    public init?(_ bytes: [UInt8]) {
        // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4).
        guard bytes.count >= 24, bytes.starts(with: Self.signature),
              bytes[12..<16].elementsEqual("IHDR".utf8) else { return nil }
        func u32(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        let width = u32(16), height = u32(20)
        guard width > 0, height > 0 else { return nil }
        self.width = width
        self.height = height
    }
}
