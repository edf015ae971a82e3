import Foundation
import PasslineCrypto

/// Signatures as the Standard Webhooks specification makes them: HMAC-SHA256, under the
/// secret's bytes (the base64 after `whsec_`), of `id.timestamp.body`, sent as
/// `webhook-signature: v1,<base64>`, one per secret, space-separated.
public enum StandardWebhooks {
    /// The `webhook-signature` value for a delivery, signed with each of `secrets`.
    /// - Throws: `SignatureError` for a secret that is not `whsec_` and base64.
    public static func signature(id: String, timestamp: Int64, body: [UInt8], secrets: [String]) throws -> String {
        let signed = Array("\(id).\(timestamp).".utf8) + body
        return try secrets.map { secret in
            "v1," + Data(MAC.hmacSHA256(key: try key(secret), signed)).base64EncodedString()
        }.joined(separator: " ")
    }

    public struct SignatureError: Error, CustomStringConvertible {
        public let description: String
    }

    static func key(_ secret: String) throws -> [UInt8] {
        guard secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst("whsec_".count))), !bytes.isEmpty else {
            throw SignatureError(description: "a webhook secret is whsec_ and base64")
        }
        return Array(bytes)
    }
}
