import ApplePass
import LoyaltyRules
import PasslineJSON
import PasslineStore

/// Apple's rewards enrollment: a customer who added a personalizable pass signs up in Wallet's
/// own form; Wallet posts what they typed with a token, the card takes their name and contact
/// details, and the token goes back signed with the pass certificate. Wallet then fetches the
/// personalized pass, which leaves the form out.
extension WalletDevices {
    /// What Wallet's form sends (`requiredPersonalizationInfo`), each as the customer typed it.
    public struct SignUp: Sendable, Equatable {
        public var fullName, givenName, familyName, emailAddress, phoneNumber, postalCode, countryCode: String?
        public init(fullName: String? = nil, givenName: String? = nil, familyName: String? = nil, emailAddress: String? = nil,
                    phoneNumber: String? = nil, postalCode: String? = nil, countryCode: String? = nil) {
            self.fullName = fullName; self.givenName = givenName; self.familyName = familyName; self.emailAddress = emailAddress
            self.phoneNumber = phoneNumber; self.postalCode = postalCode; self.countryCode = countryCode
        }

        /// The member's name as the card shows it: the full name, else given and family names.
        var memberName: String? {
            if let fullName, !fullName.isEmpty { return fullName }
            let parts = [givenName, familyName].compactMap { $0 }.filter { !$0.isEmpty }
            return parts.isEmpty ? nil : parts.joined(separator: " ")
        }
    }

    /// Signs the member up on the card (once: a second sign-up for the same card changes nothing)
    /// and returns `token` signed with the tenant's pass certificate.
    /// - Throws: `DomainError.notFound` when the card's template offers no sign-up,
    ///   `.invalid` for values too long to keep.
    public func personalize(_ card: Cards.Card, signUp: SignUp, token: String, jobs: JobQueue, now: Int64 = WallClock.milliseconds()) async throws -> [UInt8] {
        let (_, template, _) = try await cards.templates.load(tenant: card.tenant, idOrName: card.templateID)
        guard template.isPersonalizable else { throw DomainError(.notFound, "This card's pass offers no sign-up.") }
        if card.personalizedAt == nil {
            var fields = card.fields
            for (key, value) in [("email", signUp.emailAddress), ("phone", signUp.phoneNumber), ("postalCode", signUp.postalCode), ("country", signUp.countryCode)] {
                guard let value, !value.isEmpty else { continue }
                try TextRules.check(value, field: key, maxLength: 256)
                fields[key] = .string(value)
            }
            if let name = signUp.memberName { try TextRules.check(name, field: "name", maxLength: 256) }
            _ = try await cards.change(tenant: card.tenant, mode: card.mode, serial: card.serialNumber, memberName: signUp.memberName, fields: fields,
                                       voided: nil, personalizedAt: now, jobs: jobs, now: now)
        }
        return try await cards.identities.identity(tenant: card.tenant).signDetached(Array(token.utf8))
    }
}
