import Foundation
import LoyaltyRules

/// HTTP dates (RFC 9110 §5.6.7) and ISO 8601 for JSON.
///
/// Parsed by hand, with every part range-checked before any arithmetic: the text comes from
/// any client (`If-Modified-Since`), and a year past Int32 once trapped in a conversion for
/// `timegm`, which stopped the process for every tenant.
enum HTTPDate {
    private static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    private static let longDays = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    /// Years an HTTP date may name here: four digits, as IMF-fixdate has them.
    static let years: ClosedRange<Int> = 1...9999

    /// `Sun, 06 Nov 1994 08:49:37 GMT` for seconds since 1970 (clamped to years 1 to 9999).
    static func format(_ seconds: Int64) -> String {
        let bounded = min(max(seconds, secondsSince1970(year: 1, month: 1, day: 1)), secondsSince1970(year: 9999, month: 12, day: 31) + 86_399)
        let (dayNumber, secondOfDay) = floorDivision(bounded, 86_400)
        let (year, month, day) = civil(fromDays: dayNumber)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        func four(_ n: Int) -> String { String(repeating: "0", count: max(0, 4 - String(n).count)) + String(n) }
        let weekday = days[Int(floorDivision(dayNumber, 7).1)]
        return "\(weekday), \(two(Int64(day))) \(months[month - 1]) \(four(year)) \(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) GMT"
    }

    /// Seconds since 1970 from an HTTP date: IMF-fixdate, or the obsolete RFC 850 and asctime
    /// forms that RFC 9110 asks recipients to accept. nil for anything else, or a date that
    /// does not exist (treated as absent, as RFC 9110 says of an invalid `If-Modified-Since`).
    static func parse(_ text: String) -> Int64? {
        guard text.utf8.count <= 64 else { return nil }
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        var day: Int?, month: Int?, year: Int?, clock: String?
        if parts.count == 6, parts[0].hasSuffix(","), days.contains(String(parts[0].dropLast())), parts[5] == "GMT",
           parts[1].utf8.count == 2, parts[3].utf8.count == 4 {
            // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
            day = digits(parts[1]); month = months.firstIndex(of: parts[2]).map { $0 + 1 }; year = digits(parts[3]); clock = parts[4]
        } else if parts.count == 4, parts[0].hasSuffix(","), longDays.contains(String(parts[0].dropLast())), parts[3] == "GMT" {
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (a two-digit year: 70 to 99 are 19xx)
            let date = parts[1].split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard date.count == 3, date[0].utf8.count == 2, date[2].utf8.count == 2, let short = digits(date[2]) else { return nil }
            day = digits(date[0]); month = months.firstIndex(of: date[1]).map { $0 + 1 }; year = short < 70 ? 2000 + short : 1900 + short; clock = parts[2]
        } else if parts.count == 5, days.contains(parts[0]), (1...2).contains(parts[2].utf8.count), parts[4].utf8.count == 4 {
            // asctime: Sun Nov  6 08:49:37 1994
            month = months.firstIndex(of: parts[1]).map { $0 + 1 }; day = digits(parts[2]); clock = parts[3]; year = digits(parts[4])
        }
        guard let day, let month, let year, let clock, years.contains(year) else { return nil }
        let time = clock.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard time.count == 3, time.allSatisfy({ $0.utf8.count == 2 }),
              let hour = digits(time[0]), let minute = digits(time[1]), let second = digits(time[2]),
              hour < 24, minute < 60, second <= 60, day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        // A leap second (:60) is the last second of its minute here.
        return secondsSince1970(year: year, month: month, day: day) + Int64(hour * 3600 + minute * 60 + min(second, 59))
    }

    /// A number of at most four ASCII digits; nil for anything else (signs, spaces, other digits).
    private static func digits(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 4 else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    // The calendar is Timestamp's (RFC 3339 times), one implementation for both formats.
    private static func daysIn(month: Int, year: Int) -> Int { Int(Timestamp.daysIn(month: Int64(month), year: Int64(year))) }

    private static func floorDivision(_ a: Int64, _ b: Int64) -> (Int64, Int64) { Timestamp.floorDivision(a, b) }

    /// Seconds from 1970-01-01 to a date; years 1 to 9999 keep every step far inside Int64.
    static func secondsSince1970(year: Int, month: Int, day: Int) -> Int64 {
        Timestamp.daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day)) * 86_400
    }

    private static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let (year, month, day) = Timestamp.civil(fromDays: days)
        return (Int(year), Int(month), Int(day))
    }

    /// A format style is a value and Sendable: no formatter object made per timestamp.
    private static let iso8601Style = Date.ISO8601FormatStyle()

    static func iso8601(_ milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000).formatted(iso8601Style)
    }
}
