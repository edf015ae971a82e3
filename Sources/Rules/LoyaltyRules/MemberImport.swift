import Foundation

/// Reading a business's existing members from CSV (a move from paper cards or another
/// platform): the text's rows, the columns the header names, and each row checked, so a dry run
/// can list every bad row before anything is stored.
public enum MemberImport {
    public static let maxBytes = 8 * 1024 * 1024
    public static let maxRows = 200_000

    /// One row to import: a card for the member, with its opening balance.
    public struct Row: Sendable, Equatable {
        public let line: Int
        public let memberID: String
        public let memberName: String
        public let points: Int64
        /// Other columns the template may show: tier, phone, email.
        public let fields: [(String, String)]

        public static func == (a: Row, b: Row) -> Bool {
            a.line == b.line && a.memberID == b.memberID && a.memberName == b.memberName && a.points == b.points
                && a.fields.map(\.0) == b.fields.map(\.0) && a.fields.map(\.1) == b.fields.map(\.1)
        }
    }

    public struct Fault: Sendable, Equatable {
        public let line: Int
        public let message: String
    }

    public struct Checked: Sendable, Equatable {
        public let rows: [Row]
        public let faults: [Fault]
    }

    /// The header's names for each column, in any case and with spaces or underscores.
    static let names: [String: String] = [
        "memberid": "memberId", "member": "memberId", "id": "memberId", "membernumber": "memberId", "cardnumber": "memberId",
        "name": "memberName", "membername": "memberName", "fullname": "memberName",
        "points": "points", "balance": "points", "pointsbalance": "points",
        "tier": "tier", "phone": "phone", "mobile": "phone", "email": "email",
    ]

    /// Checks every row. `existing` are member ids that already have a card of the template.
    /// - Throws: `DomainError.invalid` when the text is not CSV or its header lacks a member id column.
    public static func check(_ text: String, existing: Set<String>) throws -> Checked {
        guard text.utf8.count <= maxBytes else { throw DomainError(.invalid, "The file is over 8 MiB; split it into smaller files.") }
        let table = try CSVText.rows(text)
        guard let header = table.first else { throw DomainError(.invalid, "The file is empty: it needs a header row (memberId, name, points) and a row per member.") }
        let columns = header.map { names[$0.lowercased().filter { $0.isLetter || $0.isNumber }] }
        guard let memberColumn = columns.firstIndex(of: "memberId") else {
            throw DomainError(.invalid, "The header row needs a memberId column (found: \(header.prefix(10).joined(separator: ", "))).")
        }
        guard table.count - 1 <= maxRows else { throw DomainError(.invalid, "The file has \(table.count - 1) rows; at most \(maxRows) at once.") }
        let nameColumn = columns.firstIndex(of: "memberName"), pointsColumn = columns.firstIndex(of: "points")
        let extra: [(key: String, column: Int)] = ["tier", "phone", "email"].compactMap { (key: String) in
            columns.firstIndex(of: key).map { (key: key, column: $0) }
        }
        var rows: [Row] = [], faults: [Fault] = [], seen: [String: Int] = [:]
        for (index, cells) in table.enumerated().dropFirst() {
            let line = index + 1
            if cells.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { continue }
            func cell(_ column: Int?) -> String { column.flatMap { $0 < cells.count ? cells[$0].trimmingCharacters(in: .whitespaces) : nil } ?? "" }
            let member = cell(memberColumn), name = cell(nameColumn), pointsText = cell(pointsColumn)
            var problems: [String] = []
            if member.isEmpty { problems.append("the member id is empty") }
            if member.count > 64 { problems.append("the member id is over 64 characters") }
            if name.count > 200 { problems.append("the name is over 200 characters") }
            if (member + name).unicodeScalars.contains(where: { $0.value < 0x20 }) { problems.append("a value holds control characters") }
            let points: Int64? = pointsText.isEmpty ? 0 : Int64(pointsText.replacingOccurrences(of: ",", with: ""))
            if points == nil { problems.append("points must be a whole number, found \"\(pointsText.prefix(20))\"") }
            if let points, !(0...PointsRules.maxBalance).contains(points) { problems.append("points must be 0 to \(PointsRules.maxBalance)") }
            if let first = seen[member], !member.isEmpty { problems.append("the member id \(member) is on line \(first) too") }
            if existing.contains(member) { problems.append("member \(member) has a card already") }
            if problems.isEmpty, let points {
                rows.append(Row(line: line, memberID: member, memberName: name, points: points,
                                fields: extra.compactMap { entry -> (String, String)? in
                                    let value = cell(entry.column)
                                    return value.isEmpty ? nil : (entry.key, value)
                                }))
            } else {
                faults.append(Fault(line: line, message: problems.joined(separator: "; ")))
            }
            if !member.isEmpty && seen[member] == nil { seen[member] = line }
        }
        return Checked(rows: rows, faults: faults)
    }
}

/// RFC 4180 CSV: fields separated by commas (or semicolons, as spreadsheets in many countries
/// write them), quoted with `"` where they hold one, `""` for a quote, CRLF or LF line ends.
public enum CSVText {
    /// - Throws: `DomainError.invalid` for an unterminated quote.
    public static func rows(_ text: String) throws -> [[String]] {
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        let firstLine = body.prefix { $0 != "\n" && $0 != "\r\n" }
        let separator: Character = firstLine.filter { $0 == ";" }.count > firstLine.filter { $0 == "," }.count ? ";" : ","
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false, line = 1
        var characters = body.makeIterator()
        var pending: Character? = nil
        func next() -> Character? {
            if let value = pending { pending = nil; return value }
            return characters.next()
        }
        while let character = next() {
            if quoted {
                if character == "\"" {
                    if let after = next() {
                        if after == "\"" { field.append("\"") } else { quoted = false; pending = after }
                    } else { quoted = false }
                } else {
                    if character == "\n" || character == "\r\n" { line += 1 }
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.isEmpty: quoted = true
            case separator: row.append(field); field = ""
            case "\n", "\r\n", "\r":
                row.append(field); field = ""
                rows.append(row); row = []
                line += 1
            default: field.append(character)
            }
        }
        if quoted { throw DomainError(.invalid, "A quoted value that starts on or before line \(line) never ends: a \" is missing.") }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
