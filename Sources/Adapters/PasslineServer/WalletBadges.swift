import Foundation

/// The brands' official "Add to Apple Wallet" and "Add to Google Wallet" badges. Their terms do
/// not let the project ship the artwork, so the operator downloads it (README says where) into
/// `PASSLINE_BADGES_DIR` as `apple.svg` or `apple.png` and `google.svg` or `google.png`; the
/// card page shows them instead of its look-alike buttons, each where present.
public struct WalletBadges: Sendable, Equatable {
    public struct Badge: Sendable, Equatable {
        public let bytes: [UInt8]
        public let contentType: String
        /// The name it is served under, `/badges/<file>`.
        public let file: String
    }

    public var apple: Badge?
    public var google: Badge?

    public init(apple: Badge? = nil, google: Badge? = nil) { self.apple = apple; self.google = google }

    public static let maxBytes = 512 * 1024

    /// Reads the badges in `directory`.
    /// - Throws: `ServerConfiguration.Invalid` naming the file at fault, or the folder when it
    ///   holds neither badge.
    public static func load(directory: String) throws(ServerConfiguration.Invalid) -> WalletBadges {
        var badges = WalletBadges()
        for brand in ["apple", "google"] {
            for ext in ["svg", "png"] {
                let path = (directory as NSString).appendingPathComponent("\(brand).\(ext)")
                guard FileManager.default.fileExists(atPath: path) else { continue }
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw ServerConfiguration.Invalid(description: "PASSLINE_BADGES_DIR: \(path) cannot be read.")
                }
                let bytes = Array(data)
                guard !bytes.isEmpty, bytes.count <= maxBytes else {
                    throw ServerConfiguration.Invalid(description: "PASSLINE_BADGES_DIR: \(path) is \(bytes.count) bytes; a badge is 1 byte to \(maxBytes / 1024) KB.")
                }
                let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
                if ext == "png" {
                    guard bytes.starts(with: png) else { throw ServerConfiguration.Invalid(description: "PASSLINE_BADGES_DIR: \(path) is not a PNG file.") }
                } else {
                    let head = String(decoding: bytes.prefix(2_048), as: UTF8.self).lowercased()
                    guard head.contains("<svg") else { throw ServerConfiguration.Invalid(description: "PASSLINE_BADGES_DIR: \(path) is not an SVG file (no <svg element near its start).") }
                }
                let badge = Badge(bytes: bytes, contentType: ext == "svg" ? "image/svg+xml" : "image/png", file: "\(brand).\(ext)")
                if brand == "apple" { badges.apple = badges.apple ?? badge } else { badges.google = badges.google ?? badge }
            }
        }
        guard badges.apple != nil || badges.google != nil else {
            throw ServerConfiguration.Invalid(description: "PASSLINE_BADGES_DIR \(directory) holds neither apple.svg/apple.png nor google.svg/google.png.")
        }
        return badges
    }

    func badge(file: String) -> Badge? { [apple, google].compactMap { $0 }.first { $0.file == file } }
}
