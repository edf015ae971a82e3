import Foundation
import PasslineCrypto

/// A certificate authority of its own and a server certificate it issued, for a stand-in on
/// loopback: clients trust `authorityPEM` (PASSLINE_APNS_CA_FILE) and nothing else changes.
public struct StandInCredentials: Sendable {
    public let authorityPEM: [UInt8]
    public let certificateChainPEM: [UInt8]
    public let keyPEM: [UInt8]

    public static func generate(hosts: [String] = ["localhost", "127.0.0.1"], name: String = "Passline APNs stand-in") throws -> StandInCredentials {
        let now = Date()
        let authorityKey = try PrivateKey.generateRSA(bits: 2048)
        let authority = try CertificateIssuer.issue(
            subject: DistinguishedName([("O", "Passline Development"), ("CN", "\(name) CA")]), subjectKey: authorityKey, issuer: nil,
            validFrom: now.addingTimeInterval(-3600), validUntil: now.addingTimeInterval(5 * 365 * 86_400), profile: .authority(pathLength: 0)
        )
        let key = try PrivateKey.generateRSA(bits: 2048)
        let certificate = try CertificateIssuer.issue(
            subject: DistinguishedName([("O", "Passline Development"), ("CN", hosts.first ?? "localhost")]), subjectKey: key,
            issuer: (authority, authorityKey), validFrom: now.addingTimeInterval(-3600), validUntil: now.addingTimeInterval(2 * 365 * 86_400),
            profile: .tlsServer(hosts: hosts)
        )
        return StandInCredentials(authorityPEM: authority.pemBytes, certificateChainPEM: certificate.pemBytes, keyPEM: try key.pemBytes())
    }
}
