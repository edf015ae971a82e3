/// An ISO 4217 currency and the number of digits of its minor unit, so that an amount in minor
/// units (always an integer) can be read in major units without floating point.
public struct Currency: Sendable, Hashable, CustomStringConvertible {
    public let code: String
    /// Digits after the decimal point: 2 for EUR (cents), 0 for JPY, 3 for KWD.
    public let minorDigits: Int

    /// - Returns: nil unless `code` is three capital letters A–Z.
    public init?(_ code: String) {
        guard code.utf8.count == 3, code.utf8.allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else { return nil }
        self.code = code
        self.minorDigits = Self.exceptions[code] ?? 2
    }

    /// Every currency whose minor unit is not hundredths (ISO 4217's table); all others have two.
    private static let exceptions: [String: Int] = [
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0,
        "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
        "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
        "CLF": 4, "UYW": 4,
    ]

    /// 10 to the power of `minorDigits`: minor units in one major unit.
    public var minorPerMajor: Int64 {
        var result: Int64 = 1
        for _ in 0..<minorDigits { result *= 10 }
        return result
    }

    public var description: String { code }
}
