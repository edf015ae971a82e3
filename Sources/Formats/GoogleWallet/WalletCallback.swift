import PasslineCrypto
import PasslineJSON

/// A save or a deletion that Google Wallet reports to a class's `callbackOptions.url`, signed
/// the way Google Pay signs its tokens (`ECv2SigningOnly`): Google's root key signs a
/// short-lived intermediate key, which signs the message. Opening one checks both signatures,
/// both expiries and that the message was meant for this issuer, so nobody else can move a
/// tenant's install counts.
public struct WalletCallback: Sendable, Equatable {
    public enum EventType: String, Sendable {
        case save
        case delete = "del"
    }

    public let classID: String
    public let objectID: String
    public let eventType: EventType
    /// Google's id of this report: the same on each retry of it.
    public let nonce: String
    /// Milliseconds since 1970 after which the report must not be acted on.
    public let expiresAt: Int64

    public static let protocolVersion = "ECv2SigningOnly"
    /// Google named the sender `GooglePayPasses` and later `GoogleWalletPasses`; either may sign.
    public static let senderIDs = ["GooglePayPasses", "GoogleWalletPasses"]
    public static let defaultKeysURL = "https://pay.google.com/gp/m/issuer/keys"

    public init(classID: String, objectID: String, eventType: EventType, nonce: String, expiresAt: Int64) {
        self.classID = classID; self.objectID = objectID; self.eventType = eventType; self.nonce = nonce; self.expiresAt = expiresAt
    }

    /// Google's root signing keys, as its keys URL lists them.
    public struct RootKeys: Sendable {
        public struct Key: Sendable {
            public let key: PublicKey
            /// Milliseconds since 1970; nil: no expiry given.
            public let expiresAt: Int64?
        }

        public let keys: [Key]

        /// Reads `{"keys": [{"keyValue", "protocolVersion", "keyExpiration"}]}`, keeping the
        /// `ECv2SigningOnly` ones.
        /// - Throws: `GoogleWalletError(.invalidConfiguration)` when none can be used.
        public init(json bytes: [UInt8]) throws {
            guard let list = (try? JSONParser.parse(bytes))?["keys"]?.arrayValue else {
                throw GoogleWalletError(.invalidConfiguration, "Google's signing-key list is not JSON with a \"keys\" array.")
            }
            keys = list.compactMap { entry in
                guard entry["protocolVersion"]?.stringValue == WalletCallback.protocolVersion,
                      let value = entry["keyValue"]?.stringValue, let der = Base64Standard.decode(value),
                      let key = try? PublicKey(der: der), key.isP256 else { return nil }
                return Key(key: key, expiresAt: entry["keyExpiration"]?.stringValue.flatMap { Int64($0) })
            }
            guard !keys.isEmpty else {
                throw GoogleWalletError(.invalidConfiguration, "Google's signing-key list has no usable \(WalletCallback.protocolVersion) P-256 key.")
            }
        }

        public init(keys: [Key]) { self.keys = keys }
    }

    /// Why a report was refused.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
        init(_ message: String) { self.message = message }
    }

    /// The report's message, unchecked: which issuer it names, so the receiver can find the
    /// tenant whose issuer id must be the signature's recipient.
    /// - Throws: `Refusal` when the body is not a signed report.
    public static func peek(_ body: [UInt8]) throws(Refusal) -> WalletCallback {
        let outer = try envelope(body)
        return try message(outer.signedMessage)
    }

    /// The report, once its signatures, expiries and recipient are checked.
    /// - Parameters:
    ///   - issuer: the tenant's issuer id: the recipient Google signs for.
    ///   - now: milliseconds since 1970.
    /// - Throws: `Refusal` naming what failed.
    public static func open(_ body: [UInt8], issuer: String, rootKeys: RootKeys, now: Int64) throws(Refusal) -> WalletCallback {
        let outer = try envelope(body)
        guard outer.protocolVersion == protocolVersion else { throw Refusal("protocolVersion must be \(protocolVersion), found \"\(outer.protocolVersion)\".") }
        guard let signedKey = try? JSONParser.parse(outer.signedKey), let keyValue = signedKey["keyValue"]?.stringValue,
              let der = Base64Standard.decode(keyValue), let intermediate = try? PublicKey(der: der), intermediate.isP256 else {
            throw Refusal("intermediateSigningKey.signedKey does not hold a P-256 keyValue.")
        }
        guard let expiry = signedKey["keyExpiration"]?.stringValue.flatMap({ Int64($0) }) else {
            throw Refusal("intermediateSigningKey.signedKey has no keyExpiration.")
        }
        guard expiry > now else { throw Refusal("The intermediate signing key expired.") }
        let live = rootKeys.keys.filter { ($0.expiresAt ?? .max) > now }
        let keySigned = senderIDs.contains { sender in
            let signed = lengthValue([sender, protocolVersion, outer.signedKey])
            return outer.keySignatures.contains { signature in live.contains { $0.key.verifySHA256(signed, signature: signature) } }
        }
        guard keySigned else { throw Refusal("No signature of the intermediate key checks against Google's current root keys.") }
        let messageSigned = senderIDs.contains { sender in
            intermediate.verifySHA256(lengthValue([sender, issuer, protocolVersion, outer.signedMessage]), signature: outer.signature)
        }
        guard messageSigned else { throw Refusal("The message's signature does not check for issuer \(issuer).") }
        let report = try message(outer.signedMessage)
        guard report.expiresAt > now else { throw Refusal("The report expired (expTimeMillis \(report.expiresAt)).") }
        guard report.objectID.hasPrefix(issuer + "."), report.classID.hasPrefix(issuer + ".") else {
            throw Refusal("The report names another issuer's class or object.")
        }
        return report
    }

    /// Each part as its 4-byte little-endian length, then its UTF-8 bytes: what the signatures cover.
    public static func lengthValue(_ parts: [String]) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            let bytes = Array(part.utf8)
            let count = UInt32(truncatingIfNeeded: bytes.count)
            out += [UInt8(count & 0xff), UInt8(count >> 8 & 0xff), UInt8(count >> 16 & 0xff), UInt8(count >> 24 & 0xff)]
            out += bytes
        }
        return out
    }

    /// The signed body Google would send for this report (for the stand-in and tests).
    /// - Parameters:
    ///   - rootKey: the key Google's list names; it signs the intermediate key.
    ///   - intermediateKey: signs the message, until `keyExpiresAt`.
    public func sealed(issuer: String, rootKey: PrivateKey, intermediateKey: PrivateKey, keyExpiresAt: Int64,
                       sender: String = WalletCallback.senderIDs[0]) throws -> [UInt8] {
        let message = JSONWriter.string(.object(JSONObject([
            ("classId", .string(classID)), ("objectId", .string(objectID)), ("expTimeMillis", .int(expiresAt)),
            ("eventType", .string(eventType.rawValue)), ("nonce", .string(nonce)),
        ])))
        let signedKey = JSONWriter.string(.object(JSONObject([
            ("keyValue", .string(Base64Standard.encode(try intermediateKey.publicKeyDER()))), ("keyExpiration", .string(String(keyExpiresAt))),
        ])))
        let keySignature = try rootKey.signSHA256(Self.lengthValue([sender, Self.protocolVersion, signedKey]))
        let signature = try intermediateKey.signSHA256(Self.lengthValue([sender, issuer, Self.protocolVersion, message]))
        return JSONWriter.bytes(.object(JSONObject([
            ("signature", .string(Base64Standard.encode(signature))),
            ("intermediateSigningKey", .object(JSONObject([
                ("signedKey", .string(signedKey)), ("signatures", .array([.string(Base64Standard.encode(keySignature))])),
            ]))),
            ("protocolVersion", .string(Self.protocolVersion)),
            ("signedMessage", .string(message)),
        ])))
    }

    private struct Envelope {
        let protocolVersion: String
        let signature: [UInt8]
        let signedKey: String
        let keySignatures: [[UInt8]]
        let signedMessage: String
    }

    private static func envelope(_ body: [UInt8]) throws(Refusal) -> Envelope {
        guard body.count <= 64 * 1024 else { throw Refusal("The body is over 64 KiB; Google's reports are far smaller.") }
        guard let outer = try? JSONParser.parse(body), outer.objectValue != nil else { throw Refusal("The body is not a JSON object.") }
        guard let signature = outer["signature"]?.stringValue.flatMap(Base64Standard.decode) else { throw Refusal("signature is missing or not base64.") }
        guard let key = outer["intermediateSigningKey"], let signedKey = key["signedKey"]?.stringValue,
              let signatures = key["signatures"]?.arrayValue?.prefix(8).compactMap({ $0.stringValue.flatMap(Base64Standard.decode) }), !signatures.isEmpty else {
            throw Refusal("intermediateSigningKey must hold signedKey and base64 signatures.")
        }
        guard let signedMessage = outer["signedMessage"]?.stringValue else { throw Refusal("signedMessage is missing.") }
        return Envelope(protocolVersion: outer["protocolVersion"]?.stringValue ?? "", signature: signature, signedKey: signedKey,
                        keySignatures: signatures, signedMessage: signedMessage)
    }

    private static func message(_ text: String) throws(Refusal) -> WalletCallback {
        guard let message = try? JSONParser.parse(text), message.objectValue != nil else { throw Refusal("signedMessage is not a JSON object.") }
        guard let classID = message["classId"]?.stringValue, let objectID = message["objectId"]?.stringValue,
              classID.utf8.count <= 512, objectID.utf8.count <= 512 else {
            throw Refusal("signedMessage needs classId and objectId (at most 512 bytes each).")
        }
        guard let type = message["eventType"]?.stringValue.flatMap(EventType.init(rawValue:)) else {
            throw Refusal("signedMessage.eventType must be \"save\" or \"del\".")
        }
        guard let nonce = message["nonce"]?.stringValue, !nonce.isEmpty, nonce.utf8.count <= 256 else {
            throw Refusal("signedMessage.nonce must be 1 to 256 bytes.")
        }
        let expiry: Int64? = message["expTimeMillis"]?.intValue ?? message["expTimeMillis"]?.stringValue.flatMap { Int64($0) }
        guard let expiry else { throw Refusal("signedMessage.expTimeMillis must be milliseconds since 1970.") }
        return WalletCallback(classID: classID, objectID: objectID, eventType: type, nonce: nonce, expiresAt: expiry)
    }
}
