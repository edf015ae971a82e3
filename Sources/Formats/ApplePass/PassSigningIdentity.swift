import Foundation
import PasslineCrypto

/// A Pass Type ID certificate, its key and the WWDR intermediate that issued it, checked and
/// ready to sign.
public struct PassSigningIdentity: Sendable {
    public let passTypeIdentifier: String
    public let teamIdentifier: String
    public let certificate: Certificate
    /// The intermediate that issued `certificate`, chosen among those given.
    public let intermediate: Certificate
    /// What loading noticed that does not stop signing (a certificate expiring soon, …).
    public let warnings: [String]
    let signer: DetachedSigner

    /// Where each part came from, for messages ("certificate.pem", "pass.p12", …).
    public struct Sources: Sendable {
        public var certificate: String, key: String, intermediates: String
        public init(certificate: String = "certificate.pem", key: String = "private-key.pem", intermediates: String = "wwdr.pem") {
            self.certificate = certificate
            self.key = key
            self.intermediates = intermediates
        }
    }

    /// Checks the parts and makes an identity of them.
    ///
    /// Checked: the key belongs to the certificate; the certificate is valid now (a warning
    /// within 30 days of its end); its subject carries `UID` (the pass type identifier) and `OU`
    /// (the team identifier); one of `intermediates` issued it and is itself valid.
    /// - Throws: `PassError.invalidIdentity` with a message that says what to do.
    public init(certificate: Certificate, key: PrivateKey, intermediates: [Certificate], sources: Sources = Sources(), now: Date = Date()) throws {
        func fail(_ message: String) -> PassError { PassError(.invalidIdentity, message) }
        let subject = certificate.subject
        guard key.matches(certificate) else {
            throw fail("\(sources.key) is not the private key of \(sources.certificate) (\(subject)); use the key that made the certificate's signing request.")
        }
        if certificate.notAfter < now {
            throw fail("\(sources.certificate) (\(subject)) expired on \(Self.day(certificate.notAfter)); create a new Pass Type ID certificate in the Apple Developer account.")
        }
        if certificate.notBefore > now {
            throw fail("\(sources.certificate) (\(subject)) is not valid until \(Self.day(certificate.notBefore)); check the system clock.")
        }
        guard let passType = subject.userID, !passType.isEmpty else {
            throw fail("\(sources.certificate) has no UID in its subject (\(subject)); it is not a Pass Type ID certificate.")
        }
        guard let team = subject.organizationalUnit, !team.isEmpty else {
            throw fail("\(sources.certificate) has no OU (team identifier) in its subject (\(subject)); it is not a Pass Type ID certificate.")
        }
        guard !intermediates.isEmpty else {
            throw fail("No intermediate certificate was given; Wallet needs Apple's WWDR intermediate (G4) in every signature.")
        }
        guard let issuer = intermediates.first(where: { certificate.isIssued(by: $0) }) else {
            let given = intermediates.map { "\"\($0.subject.commonName ?? $0.subject.description)\"" }.joined(separator: ", ")
            throw fail("None of the intermediates in \(sources.intermediates) (\(given)) issued \(sources.certificate), whose issuer is \"\(certificate.issuer.commonName ?? certificate.issuer.description)\". "
                + "Pass Type ID certificates made since 2022 are issued by Apple's WWDR G4; mixing up G1 and G4 is the usual cause of \"this pass cannot be read\".")
        }
        if issuer.notAfter < now {
            throw fail("The intermediate \"\(issuer.subject.commonName ?? "")\" in \(sources.intermediates) expired on \(Self.day(issuer.notAfter)); download the current one from Apple's certificate authority page.")
        }
        var warnings: [String] = []
        let daysLeft = Int(certificate.notAfter.timeIntervalSince(now) / 86_400)
        if daysLeft < 30 {
            warnings.append("\(sources.certificate) expires in \(daysLeft) day\(daysLeft == 1 ? "" : "s") (\(Self.day(certificate.notAfter))); renew it before passes stop updating.")
        }
        if !(subject.commonName ?? "").hasPrefix("Pass Type ID:") {
            warnings.append("\(sources.certificate)'s common name \"\(subject.commonName ?? "")\" does not start with \"Pass Type ID:\" as Apple's do.")
        }
        do {
            self.signer = try DetachedSigner(certificate: certificate, key: key, intermediates: [issuer])
        } catch {
            throw fail("\(sources.certificate) cannot sign: \(error)")
        }
        self.passTypeIdentifier = passType
        self.teamIdentifier = team
        self.certificate = certificate
        self.intermediate = issuer
        self.warnings = warnings
    }

    /// Days until the certificate ends (negative once it has).
    public func daysToExpiry(now: Date = Date()) -> Int { Int(certificate.notAfter.timeIntervalSince(now) / 86_400) }

    /// Loads `certificate.pem`, `private-key.pem` and `wwdr.pem` (one or more intermediates) from a folder.
    /// - Parameter keyPassphrase: the passphrase of an encrypted private key.
    /// - Throws: `PassError.unreadableFile` or `.invalidIdentity`, naming the file.
    public static func load(directory: URL, keyPassphrase: String? = nil, now: Date = Date()) throws -> PassSigningIdentity {
        let certificateURL = directory.appendingPathComponent("certificate.pem")
        let keyURL = directory.appendingPathComponent("private-key.pem")
        let wwdrURL = directory.appendingPathComponent("wwdr.pem")
        let certificate = try readCertificates(certificateURL)[0]
        let key: PrivateKey
        do { key = try PrivateKey(pem: try read(keyURL), passphrase: keyPassphrase) } catch let error as CryptoError {
            throw PassError(.invalidIdentity, "\(keyURL.path): \(error)")
        }
        let intermediates = try readCertificates(wwdrURL)
        return try PassSigningIdentity(
            certificate: certificate, key: key, intermediates: intermediates,
            sources: Sources(certificate: certificateURL.path, key: keyURL.path, intermediates: wwdrURL.path), now: now
        )
    }

    /// Loads a PKCS#12 export (certificate and key) and the WWDR intermediate(s).
    /// - Throws: `PassError.unreadableFile` or `.invalidIdentity`, naming the file.
    public static func load(p12 url: URL, password: String, wwdr: URL, now: Date = Date()) throws -> PassSigningIdentity {
        let bundle: PKCS12Bundle
        do { bundle = try PKCS12Bundle(der: try read(url), password: password) } catch let error as CryptoError {
            throw PassError(.invalidIdentity, "\(url.path): \(error)")
        }
        // Some exports carry the intermediate too; the given file comes first.
        let intermediates = try readCertificates(wwdr) + bundle.extraCertificates
        return try PassSigningIdentity(
            certificate: bundle.certificate, key: bundle.key, intermediates: intermediates,
            sources: Sources(certificate: url.path, key: url.path, intermediates: wwdr.path), now: now
        )
    }

    /// Makes an identity of PEM text received over the network (the admin API), naming the
    /// fields it came from in every error.
    /// - Throws: `PassError.invalidIdentity`.
    public static func load(certificatePEM: [UInt8], keyPEM: [UInt8], keyPassphrase: String? = nil, intermediatesPEM: [UInt8],
                            sources: Sources, now: Date = Date()) throws -> PassSigningIdentity {
        func certificates(_ bytes: [UInt8], _ source: String) throws -> [Certificate] {
            do { return try Certificate.loadPEM(bytes) } catch let error as CryptoError {
                throw PassError(.invalidIdentity, "\(source): \(error)")
            }
        }
        let certificate = try certificates(certificatePEM, sources.certificate)[0]
        let key: PrivateKey
        do { key = try PrivateKey(pem: keyPEM, passphrase: keyPassphrase) } catch let error as CryptoError {
            throw PassError(.invalidIdentity, "\(sources.key): \(error)")
        }
        return try PassSigningIdentity(certificate: certificate, key: key, intermediates: try certificates(intermediatesPEM, sources.intermediates),
                                       sources: sources, now: now)
    }

    static func read(_ url: URL) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw PassError(.unreadableFile, "\(url.path) does not exist or cannot be read.")
        }
        return [UInt8](data)
    }

    /// Every certificate in a PEM file (or one DER certificate, as Apple's site serves WWDR).
    public static func readCertificates(_ url: URL) throws -> [Certificate] {
        let bytes = try read(url)
        if bytes.first == 0x30, let der = try? Certificate(der: bytes) { return [der] }
        do { return try Certificate.loadPEM(bytes) } catch let error as CryptoError {
            throw PassError(.invalidIdentity, "\(url.path): \(error)")
        }
    }

    static func day(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: date)
    }
}

extension PassSigningIdentity {
    /// The private key that signs, for benchmarks that compare against the bare RSA operation.
    public var signerKey: PrivateKey { signer.key }

    /// A detached PKCS #7 signature of `bytes` with the pass certificate, as a manifest is
    /// signed: what Wallet checks a personalization token's answer against.
    public func signDetached(_ bytes: [UInt8]) throws -> [UInt8] { try signer.sign(bytes) }
}

extension PassSigningIdentity {
    /// A detached signature over `content` with this identity, as a pass's manifest gets.
    public func sign(_ content: [UInt8]) throws -> [UInt8] { try signer.sign(content) }
}
