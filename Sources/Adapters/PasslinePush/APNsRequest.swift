import ApplePass
import Foundation
import PasslineHTTPClient

/// The request Apple's push service takes for a Wallet pass update, and the client identity a
/// tenant sends it with: built in one place for the push worker and the benchmarks.
public enum APNsRequest {
    /// Wallet's push carries no content: an empty dictionary tells the device to ask what changed.
    static let emptyPayload = Array("{}".utf8)

    /// `POST {apnsURL}/3/device/{token}` with the pass type as topic.
    /// - Parameter expiration: `apns-expiration`, seconds since 1970, as text.
    public static func make(apnsURL: String, token: String, passType: String, expiration: String,
                            timeoutMilliseconds: Int, identity: ClientIdentity) -> HTTPRequest {
        HTTPRequest(
            method: "POST", url: "\(apnsURL)/3/device/\(token)",
            // Only what APNs reads. An empty value keeps off the wire what libcurl would add
            // (`accept: */*`, and a form content-type for a POST body): every header is one more
            // field for both ends to encode and decode on every push of a campaign.
            headers: [("apns-topic", passType), ("apns-expiration", expiration), ("accept", ""), ("content-type", "")],
            body: emptyPayload, timeoutMilliseconds: timeoutMilliseconds, identity: identity
        )
    }

    /// A Pass Type ID certificate is also its APNs credential: the certificate with its
    /// intermediate, and the key, as TLS takes them.
    public static func clientIdentity(_ identity: PassSigningIdentity) throws -> ClientIdentity {
        ClientIdentity(certificatePEM: identity.certificate.pemBytes + identity.intermediate.pemBytes, keyPEM: try identity.signerKey.pemBytes())
    }
}
