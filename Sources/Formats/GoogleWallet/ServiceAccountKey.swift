import PasslineCrypto
import PasslineJSON

/// A Google service account's JSON key file, as the Cloud console issues it: the account's
/// email and its RSA private key sign both the OAuth assertions and the save links.
public struct ServiceAccountKey: Sendable {
    public let clientEmail: String
    /// `private_key_id`: Google looks the public key up by it (the JWT header's `kid`).
    public let keyID: String?
    public let privateKey: PrivateKey
    /// The key file as given, to store (sealed) and load again.
    public let json: [UInt8]
    /// What tells this key from any other, for caches of what Google hands it: the e-mail and
    /// key id alone are the tenant's to choose, so two tenants could name the same ones.
    public var cacheIdentity: String { "\(clientEmail)/\(keyID ?? "")/\(Digest.hex(Digest.sha256(json)))" }

    /// Parses and checks a key file.
    /// - Throws: `GoogleWalletError.invalidServiceAccount` naming the field at fault.
    public init(json: [UInt8]) throws {
        func fail(_ why: String) -> GoogleWalletError {
            GoogleWalletError(.invalidServiceAccount, "The service-account key file \(why). Download a JSON key for the service account in Google Cloud's console (IAM → Service accounts → Keys → Add key → JSON).")
        }
        guard !json.isEmpty else { throw fail("is empty") }
        let parsed: JSONValue
        do { parsed = try JSONParser.parse(json) } catch { throw fail("is not JSON (\(error))") }
        guard case .object(let object) = parsed else { throw fail("is not a JSON object") }
        if let type = object["type"] {
            guard type.stringValue == "service_account" else {
                throw fail("has \"type\": \(JSONWriter.string(type)), not \"service_account\" (an OAuth client secret or a user credential will not do)")
            }
        }
        guard let email = object["client_email"]?.stringValue, !email.isEmpty else { throw fail("has no \"client_email\"") }
        guard email.contains("@") else { throw fail("has a \"client_email\" that is not an email address: \(email)") }
        guard let pem = object["private_key"]?.stringValue, !pem.isEmpty else { throw fail("has no \"private_key\"") }
        let key: PrivateKey
        do { key = try PrivateKey(pem: Array(pem.utf8)) } catch { throw fail("has a \"private_key\" that does not load: \(error)") }
        guard key.isRSA else { throw fail("has a \"private_key\" that is not RSA; Google signs with RS256") }
        self.clientEmail = email
        self.keyID = object["private_key_id"]?.stringValue
        self.privateKey = key
        self.json = json
    }

    /// A key file for `email` around `key`, as Google lays it out (the stand-in and tests make them).
    public static func file(email: String, key: PrivateKey, keyID: String = "passline-local", projectID: String = "passline-local") throws -> [UInt8] {
        let pem = String(decoding: try key.pemBytes(), as: UTF8.self)
        return JSONWriter.bytes(.object(JSONObject([
            ("type", .string("service_account")), ("project_id", .string(projectID)), ("private_key_id", .string(keyID)),
            ("private_key", .string(pem)), ("client_email", .string(email)), ("client_id", .string("100000000000000000000")),
            ("token_uri", .string("https://oauth2.googleapis.com/token")),
        ])))
    }
}
