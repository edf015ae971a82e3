import Foundation
import PasslineCrypto
import PasslineJSON

/// "Save to Google Wallet" links: `https://pay.google.com/gp/v/save/<JWT>`, the JWT signed RS256
/// by the issuer's service account.
public enum SaveLink {
    public static let base = "https://pay.google.com/gp/v/save/"
    /// Google truncates web links whose JWT passes this many characters.
    public static let maxJWTLength = 1_800

    public enum Payload: Sendable {
        /// The object (and its class) in the token: works before anything exists through REST,
        /// but is long.
        case fat(object: JSONObject, program: JSONObject?)
        /// A reference to an object inserted through REST: short, and never stale.
        case skinny(objectID: String, classID: String)
    }

    /// The link for `payload`.
    /// - Parameter origins: the web origins allowed to show the button (`https://example.com`).
    /// - Throws: `GoogleWalletError.linkTooLong` when the JWT passes `maxJWTLength`, saying what to do.
    public static func url(_ payload: Payload, account: ServiceAccountKey, origins: [String], issuedAt: Date = Date()) throws -> String {
        let jwt = try token(payload, account: account, origins: origins, issuedAt: issuedAt)
        guard jwt.count <= maxJWTLength else {
            throw GoogleWalletError(.linkTooLong, "The save link's JWT is \(jwt.count) characters; Google truncates web links past \(maxJWTLength). Insert the object through the REST API first and link it by id (the skinny form), or shorten the card's texts.")
        }
        return base + jwt
    }

    /// The signed JWT alone, whatever its length.
    public static func token(_ payload: Payload, account: ServiceAccountKey, origins: [String], issuedAt: Date = Date()) throws -> String {
        let objects: JSONObject
        switch payload {
        case .fat(let object, let program):
            var members: [(key: String, value: JSONValue)] = []
            if let program { members.append(("loyaltyClasses", .array([.object(program)]))) }
            members.append(("loyaltyObjects", .array([.object(object)])))
            objects = JSONObject(members)
        case .skinny(let objectID, let classID):
            objects = JSONObject([("loyaltyObjects", .array([.object(JSONObject([("id", .string(objectID)), ("classId", .string(classID))]))]))])
        }
        let claims = JSONObject([
            ("iss", .string(account.clientEmail)),
            ("aud", .string("google")),
            ("typ", .string("savetowallet")),
            ("iat", .int(Int64(issuedAt.timeIntervalSince1970))),
            ("origins", .array(origins.map(JSONValue.string))),
            ("payload", .object(objects)),
        ])
        return try JWT.signRS256(claims: claims, key: account.privateKey, keyID: account.keyID)
    }
}

/// The OAuth 2.0 JWT-bearer grant (RFC 7523) Google's token endpoint takes from a service account.
public enum TokenGrant {
    public static let scope = "https://www.googleapis.com/auth/wallet_object.issuer"
    public static let grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    /// The form body to POST to `tokenURL`: an assertion valid for an hour (Google's maximum).
    public static func body(account: ServiceAccountKey, tokenURL: String, now: Date = Date()) throws -> String {
        let issued = Int64(now.timeIntervalSince1970)
        let claims = JSONObject([
            ("iss", .string(account.clientEmail)), ("scope", .string(scope)), ("aud", .string(tokenURL)),
            ("iat", .int(issued)), ("exp", .int(issued + 3600)),
        ])
        let assertion = try JWT.signRS256(claims: claims, key: account.privateKey, keyID: account.keyID)
        // Both values are URL-safe already (a URN and base64url), except for the URN's colons.
        return "grant_type=" + grantType.replacingOccurrences(of: ":", with: "%3A") + "&assertion=" + assertion
    }
}
