/// The images Wallet knows, how it names their resolutions, and where each style shows them.
public struct PassImageName: Sendable, Equatable, Hashable {
    /// `icon`, `logo`, `strip`, …
    public let base: String
    /// 1, 2 or 3 (`@2x`, `@3x`).
    public let scale: Int

    /// Parses `strip@2x.png`; nil for names that are not `<base>[@Nx].png`.
    public init?(fileName: String) {
        guard fileName.hasSuffix(".png") else { return nil }
        let stem = fileName.dropLast(4)
        if let at = stem.lastIndex(of: "@") {
            let suffix = stem[stem.index(after: at)...]
            guard suffix.count == 2, suffix.last == "x", let scale = Int(String(suffix.prefix(1))), (1...3).contains(scale) else { return nil }
            base = String(stem[..<at])
            self.scale = scale
        } else {
            base = String(stem)
            scale = 1
        }
        guard !base.isEmpty else { return nil }
    }

    public static let known: Set<String> = ["icon", "logo", "strip", "thumbnail", "background", "footer", "personalizationLogo"]

    /// The area Wallet gives the image, in points (Apple's recommended sizes), for a style.
    public static func allottedPoints(_ base: String, style: String) -> (width: Int, height: Int)? {
        switch base {
        case "icon": (29, 29)
        case "logo": (160, 50)
        case "thumbnail": (90, 90)
        case "background": (180, 220)
        case "footer": (286, 15)
        case "personalizationLogo": (150, 40)
        case "strip":
            switch style {
            case "eventTicket": (375, 98)
            case "storeCard", "coupon": (375, 144)
            default: (375, 123)
            }
        default: nil
        }
    }

    /// Images a style shows; others are carried but never drawn.
    public static func shown(by style: String) -> Set<String> {
        var shown: Set<String> = ["icon", "logo", "personalizationLogo"]
        switch style {
        case "boardingPass": shown.insert("footer")
        case "coupon", "storeCard": shown.insert("strip")
        case "eventTicket": shown.formUnion(["strip", "background", "thumbnail"])
        case "generic": shown.insert("thumbnail")
        default: break
        }
        return shown
    }
}
