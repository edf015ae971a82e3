import Foundation

/// When a lot's holder is reminded that its points expire: at each of the program's milestones
/// (days before the expiry), once per lot and milestone, never during the tenant's quiet hours.
public enum ReminderSchedule {
    /// The next reminder of a lot: its largest milestone not yet sent that came after the lot
    /// was earned (a lot earned 20 days before its expiry gets the 7-day reminder, not a late
    /// 28-day one), moved out of quiet hours.
    /// - Parameter sent: the milestones already sent (or passed over) for the lot.
    public static func next(expiresAt: Int64, earnedAt: Int64, sent: Set<Int64>, program: Program) -> (daysBefore: Int64, at: Int64)? {
        for days in program.reminderDays.sorted(by: >) where !sent.contains(days) {
            let nominal = expiresAt - days * Timestamp.millisecondsPerDay
            guard nominal >= earnedAt else { continue }
            return (days, max(outOfQuietHours(nominal, program: program), earnedAt))
        }
        return nil
    }

    /// `time`, or when it falls in the quiet hours, the last full hour before they began
    /// (20:00 for quiet hours from 21:00): a reminder comes early rather than at 3 a.m.
    public static func outOfQuietHours(_ time: Int64, program: Program) -> Int64 {
        guard let zone = TimeZone(identifier: program.timeZone) else { return time }
        var candidate = time
        for _ in 0..<26 {
            let hour = localHour(candidate, zone: zone)
            if !program.quietHours.contains(hour: hour) { return candidate == time ? time : startOfHour(candidate, zone: zone) }
            candidate = startOfHour(candidate, zone: zone) - 1
        }
        return time
    }

    static func localHour(_ time: Int64, zone: TimeZone) -> Int {
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(time) / 1_000))) * 1_000
        let (_, withinDay) = Timestamp.floorDivision(time + offset, Timestamp.millisecondsPerDay)
        return Int(withinDay / 3_600_000)
    }

    static func startOfHour(_ time: Int64, zone: TimeZone) -> Int64 {
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(time) / 1_000))) * 1_000
        let (hours, _) = Timestamp.floorDivision(time + offset, 3_600_000)
        return hours * 3_600_000 - offset
    }

    /// The stage a card's look is in: calm, or the smallest milestone whose reminder time has
    /// come for the soonest expiry (with milestones 28 and 7: calm, then "28", then "7"). A
    /// milestone's time is its reminder's, moved out of quiet hours as the reminder is, so the
    /// card turns when the reminder goes, not hours after it.
    public static func stage(soonestExpiry: Int64?, now: Int64, program: Program) -> String {
        guard let soonest = soonestExpiry, soonest > now else { return "calm" }
        return program.reminderDays.sorted().first { days in
            now >= outOfQuietHours(soonest - days * Timestamp.millisecondsPerDay, program: program)
        }.map { String($0) } ?? "calm"
    }

    /// The words on the card and the lock screen: the business's own for the stage's milestone
    /// where it wrote some, else "250 points expire on 12 January"; past the first milestone the
    /// default words say how near it is ("Only 7 days left: 250 points expire on 12 January"),
    /// so that each milestone's words differ and each reaches the lock screen.
    public static func text(points: Int64, expiresAt: Int64, stage: String? = nil, program: Program) -> String {
        let zone = TimeZone(identifier: program.timeZone) ?? .gmt
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(expiresAt) / 1_000))) * 1_000
        let (days, _) = Timestamp.floorDivision(expiresAt + offset, Timestamp.millisecondsPerDay)
        let (_, month, day) = Timestamp.civil(fromDays: days)
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        let date = "\(day) \(months[Int(month) - 1])"
        let milestone = stage.flatMap { Int64($0) }
        if let milestone, let words = program.reminderTexts[milestone] {
            return ReminderWords.fill(words, points: points, date: date, days: milestone)
        }
        let words = "\(points) point\(points == 1 ? "" : "s") expire\(points == 1 ? "s" : "") on \(date)"
        guard let milestone, milestone < (program.reminderDays.max() ?? 0) else { return words }
        return "Only \(milestone) day\(milestone == 1 ? "" : "s") left: \(words)"
    }
}

/// A business's own words for a reminder, with `{points}`, `{date}` ("12 January") and `{days}`
/// (the milestone) filled in per card.
public enum ReminderWords {
    public static let placeholders = ["points", "date", "days"]
    /// Lock screens show about two lines; the card's field wraps what is left.
    public static let maxLength = 150

    /// Why `text` cannot be a reminder's words, or nil when it can.
    public static func problem(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return "must not be empty (leave the milestone out for the default words)" }
        if text.count > maxLength { return "is \(text.count) characters long; at most \(maxLength) fit a lock screen" }
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return "must be one line without control characters" }
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { return "has a { without its }" }
            let name = String(rest[rest.index(after: open)..<close])
            if !placeholders.contains(name) {
                return "names {\(name.prefix(20))}; the words can use {points}, {date} and {days}"
            }
            rest = rest[rest.index(after: close)...]
        }
        return nil
    }

    public static func fill(_ text: String, points: Int64, date: String, days: Int64) -> String {
        text.replacingOccurrences(of: "{points}", with: String(points))
            .replacingOccurrences(of: "{date}", with: date)
            .replacingOccurrences(of: "{days}", with: String(days))
    }
}
