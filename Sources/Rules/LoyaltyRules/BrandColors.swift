import Foundation

/// A business's colours for its app header and card page: a background and the text on it.
/// Text must stay readable on the background (WCAG's 4.5:1 for normal text), or staff at a
/// bright front desk and customers on a phone in the sun cannot read their own brand.
public struct BrandColors: Sendable, Equatable {
    /// "#RRGGBB", lower case.
    public let background: String
    public let text: String

    public static let standard = BrandColors(checkedBackground: "#1f3a5f", text: "#ffffff")
    public static let minimumContrast = 4.5

    private init(checkedBackground background: String, text: String) {
        self.background = background
        self.text = text
    }

    /// - Throws: `DomainError.invalid` naming each colour that is not `#RRGGBB`, or the two's
    ///   contrast when it is too low.
    public init(background: String, text: String) throws {
        var faults: [DomainError.Fault] = []
        let back = Self.parse(background), fore = Self.parse(text)
        if back == nil { faults.append(.init("background", "must be a colour as #RRGGBB, such as #1f3a5f; found \"\(background.prefix(20))\"")) }
        if fore == nil { faults.append(.init("text", "must be a colour as #RRGGBB, such as #ffffff; found \"\(text.prefix(20))\"")) }
        if let back, let fore {
            let ratio = Self.contrast(back, fore)
            if ratio < Self.minimumContrast {
                let shown = (ratio * 10).rounded(.down) / 10
                faults.append(.init("text", "is too close to the background (contrast \(shown):1; at least 4.5:1 is needed to read it)"))
            }
        }
        try DomainError.check(faults, "The colours cannot be used")
        self.background = background.lowercased()
        self.text = text.lowercased()
    }

    /// The colour's red, green and blue, or nil when `text` is not `#RRGGBB`.
    public static func parse(_ text: String) -> (Double, Double, Double)? {
        let digits = Array(text.utf8)
        guard digits.count == 7, digits[0] == UInt8(ascii: "#"), let value = UInt32(String(text.dropFirst()), radix: 16),
              digits.dropFirst().allSatisfy({ (48...57).contains($0) || (65...70).contains($0) || (97...102).contains($0) }) else { return nil }
        return (Double((value >> 16) & 0xff), Double((value >> 8) & 0xff), Double(value & 0xff))
    }

    /// WCAG 2's contrast ratio, 1 (none) to 21 (black on white).
    public static func contrast(_ a: (Double, Double, Double), _ b: (Double, Double, Double)) -> Double {
        func channel(_ value: Double) -> Double {
            let c = value / 255
            return c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
        }
        func luminance(_ rgb: (Double, Double, Double)) -> Double { 0.2126 * channel(rgb.0) + 0.7152 * channel(rgb.1) + 0.0722 * channel(rgb.2) }
        let (l1, l2) = (luminance(a), luminance(b))
        return (max(l1, l2) + 0.05) / (min(l1, l2) + 0.05)
    }
}
