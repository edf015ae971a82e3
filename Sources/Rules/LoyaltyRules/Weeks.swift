/// Weeks as the reports count them: Monday 00:00 UTC to the next, in milliseconds since 1970.
public enum Weeks {
    public static let milliseconds: Int64 = 7 * 86_400_000
    /// 1970-01-05, the first Monday after the epoch.
    public static let firstMonday: Int64 = 4 * 86_400_000

    /// The Monday 00:00 UTC that begins the week holding `time`.
    public static func start(of time: Int64) -> Int64 {
        let offset = time - firstMonday
        // Floor division, so times before 1970-01-05 land in their own week too.
        let week = offset >= 0 ? offset / milliseconds : (offset - milliseconds + 1) / milliseconds
        return week * milliseconds + firstMonday
    }

    /// The starts of the `count` weeks up to and including the one holding `now`, oldest first.
    public static func last(_ count: Int, now: Int64) -> [Int64] {
        let current = start(of: now)
        return (0..<max(0, count)).reversed().map { current - Int64($0) * milliseconds }
    }
}
