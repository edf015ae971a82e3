import Foundation
import PasslineCrypto

/// A throwaway signing identity shaped like Apple's chain: a root, an intermediate standing in
/// for Apple's WWDR, and a Pass Type ID certificate the intermediate signed, with Apple's
/// subject layout (`UID`, `CN=Pass Type ID: …`, `OU`). Chain bugs show up with it as they
/// would with Apple's; the passes it signs do not install on real devices.
public struct DevelopmentIdentity: Sendable {
    public let root: Certificate
    public let intermediate: Certificate
    public let certificate: Certificate
    public let key: PrivateKey
    /// Kept so the chain can renew its pass certificate, as Apple's WWDR does once a year.
    let intermediateKey: PrivateKey

    /// Apple's OID for Pass Type ID certificates (extended key usage and the pass type extension).
    static let passTypeUsage = "1.2.840.113635.100.4.14"
    static let passTypeExtension = "1.2.840.113635.100.6.1.16"

    /// Makes a new chain.
    /// - Parameters:
    ///   - passTypeIdentifier: e.g. `pass.com.example.loyalty`.
    ///   - teamIdentifier: a 10-character Apple team id.
    ///   - validFrom: start of the pass certificate's validity (tests pass a past date to make an expired one).
    ///   - validDays: how long the pass certificate is valid.
    /// - Throws: `CryptoError` when OpenSSL fails.
    public static func generate(passTypeIdentifier: String, teamIdentifier: String, validFrom: Date = Date().addingTimeInterval(-3600), validDays: Int = 365) throws -> DevelopmentIdentity {
        let now = Date()
        let rootKey = try PrivateKey.generateRSA(bits: 2048)
        let root = try CertificateIssuer.issue(
            subject: DistinguishedName([("C", "US"), ("O", "Passline Development"), ("CN", "Passline Development Root CA")]),
            subjectKey: rootKey, issuer: nil,
            validFrom: now.addingTimeInterval(-86_400), validUntil: now.addingTimeInterval(10 * 365 * 86_400),
            profile: .authority(pathLength: nil)
        )
        let intermediateKey = try PrivateKey.generateRSA(bits: 2048)
        let intermediate = try CertificateIssuer.issue(
            subject: DistinguishedName([("C", "US"), ("O", "Passline Development"), ("OU", "G4"),
                                        ("CN", "Passline Dev WWDR CA (stand-in for Apple WWDR G4)")]),
            subjectKey: intermediateKey, issuer: (root, rootKey),
            validFrom: now.addingTimeInterval(-86_400), validUntil: now.addingTimeInterval(5 * 365 * 86_400),
            profile: .authority(pathLength: 0)
        )
        let (key, certificate) = try issuePassCertificate(passTypeIdentifier: passTypeIdentifier, teamIdentifier: teamIdentifier,
                                                          intermediate: intermediate, intermediateKey: intermediateKey,
                                                          validFrom: validFrom, validDays: validDays)
        return DevelopmentIdentity(root: root, intermediate: intermediate, certificate: certificate, key: key, intermediateKey: intermediateKey)
    }

    /// A new pass certificate and key for the same pass type under the same intermediate: what
    /// renewing a Pass Type ID certificate gives.
    public func renewed(validFrom: Date = Date().addingTimeInterval(-3600), validDays: Int = 365) throws -> DevelopmentIdentity {
        let subject = certificate.subject
        let (key, certificate) = try Self.issuePassCertificate(passTypeIdentifier: subject.userID ?? "", teamIdentifier: subject.organizationalUnit ?? "",
                                                               intermediate: intermediate, intermediateKey: intermediateKey,
                                                               validFrom: validFrom, validDays: validDays)
        return DevelopmentIdentity(root: root, intermediate: intermediate, certificate: certificate, key: key, intermediateKey: intermediateKey)
    }

    static func issuePassCertificate(passTypeIdentifier: String, teamIdentifier: String, intermediate: Certificate, intermediateKey: PrivateKey,
                                     validFrom: Date, validDays: Int) throws -> (PrivateKey, Certificate) {
        let key = try PrivateKey.generateRSA(bits: 2048)
        let certificate = try CertificateIssuer.issue(
            subject: DistinguishedName([("UID", passTypeIdentifier), ("CN", "Pass Type ID: \(passTypeIdentifier)"),
                                        ("OU", teamIdentifier), ("O", "Passline Development"), ("C", "US")]),
            subjectKey: key, issuer: (intermediate, intermediateKey),
            validFrom: validFrom, validUntil: validFrom.addingTimeInterval(TimeInterval(validDays) * 86_400),
            // Like Apple's, the certificate is also the TLS client certificate for APNs.
            profile: .signer(extendedKeyUsages: ["clientAuth", passTypeUsage], extraExtensions: [(passTypeExtension, passTypeIdentifier)])
        )
        return (key, certificate)
    }

    /// Writes `root.pem`, `wwdr.pem`, `certificate.pem` and `private-key.pem` (mode 0600) into `directory`.
    /// - Throws: `PassError.unreadableFile` when the folder cannot be written.
    public func write(to directory: URL) throws {
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: directory, withIntermediateDirectories: true)
            for (name, bytes, mode) in [("root.pem", root.pemBytes, 0o644), ("wwdr.pem", intermediate.pemBytes, 0o644),
                                        ("certificate.pem", certificate.pemBytes, 0o644), ("private-key.pem", try key.pemBytes(), 0o600)] {
                let path = directory.appendingPathComponent(name).path
                guard manager.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode]) else {
                    throw PassError(.unreadableFile, "\(path) cannot be written.")
                }
                try manager.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            }
        } catch let error as PassError {
            throw error
        } catch {
            throw PassError(.unreadableFile, "\(directory.path) cannot be written: \(error.localizedDescription)")
        }
    }

    /// The identity, checked, ready to sign.
    public func signingIdentity(now: Date = Date()) throws -> PassSigningIdentity {
        try PassSigningIdentity(certificate: certificate, key: key, intermediates: [intermediate], now: now)
    }
}
