import Foundation

/// What a business's staff member may do in the web app. Each role has everything of the one
/// below it.
public enum StaffRole: String, Sendable, CaseIterable, Comparable {
    /// Scans cards, credits purchases, redeems rewards, corrects with a reason.
    case frontdesk
    /// Also the program, rewards, messages, members and reports.
    case manager
    /// Also the staff and the API keys.
    case owner

    public enum Permission: Sendable {
        case desk, program, staff
    }

    var rank: Int {
        switch self {
        case .frontdesk: 0
        case .manager: 1
        case .owner: 2
        }
    }

    public static func < (lhs: StaffRole, rhs: StaffRole) -> Bool { lhs.rank < rhs.rank }

    public func allows(_ permission: Permission) -> Bool {
        switch permission {
        case .desk: true
        case .program: self >= .manager
        case .staff: self == .owner
        }
    }

    /// How the app names it.
    public var title: String {
        switch self {
        case .frontdesk: "Front desk"
        case .manager: "Manager"
        case .owner: "Owner"
        }
    }
}

/// What makes an e-mail address and a password acceptable for a staff account.
public enum StaffRules {
    public static let minPasswordLength = 10
    public static let maxPasswordBytes = 256

    /// nil when `email` is acceptable: one `@`, something on each side, a dot in the domain, no
    /// spaces or control characters, at most 254 bytes (RFC 5321's path limit).
    public static func emailFault(_ email: String) -> String? {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.utf8.count <= 254 else { return "must be at most 254 characters" }
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) else {
            return "must be an e-mail address such as anna@example.com"
        }
        return nil
    }

    /// E-mail addresses compare without regard to case: `Anna@Clinic.com` is `anna@clinic.com`.
    public static func normalized(_ email: String) -> String { email.trimmingCharacters(in: .whitespaces).lowercased() }

    /// nil when `password` is acceptable.
    public static func passwordFault(_ password: String) -> String? {
        if password.count < minPasswordLength { return "must be at least \(minPasswordLength) characters" }
        if password.utf8.count > maxPasswordBytes { return "must be at most \(maxPasswordBytes) bytes" }
        if password.unicodeScalars.contains(where: { $0.value == 0 }) { return "must not contain NUL characters" }
        if Set(password).count < 4 { return "must not repeat so few characters" }
        return nil
    }
}
