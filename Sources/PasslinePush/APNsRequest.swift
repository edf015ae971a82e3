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
            headers: [("apns-topic", passType), ("apns-expiration", expiration), ("content-type", "application/json")],
            body: emptyPayload, timeoutMilliseconds: timeoutMilliseconds, identity: identity
        )
    }

    /// A Pass Type ID certificate is also its APNs credential: the certificate with its
    /// intermediate, and the key, as TLS takes them.
    public static func clientIdentity(_ identity: PassSigningIdentity) throws -> ClientIdentity {
        ClientIdentity(certificatePEM: identity.certificate.pemBytes + identity.intermediate.pemBytes, keyPEM: try identity.signerKey.pemBytes())
    }
}
