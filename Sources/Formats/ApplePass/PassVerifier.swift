import Foundation
import PasslineCrypto
import PasslineJSON
import PasslineZip

/// What checking a `.pkpass` found.
public struct PassVerification: Sendable {
    public let findings: [PassFinding]
    /// The parsed pass.json, when it could be read.
    public let passJSON: JSONValue?
    /// The certificate that signed, when the signature could be read.
    public let signer: Certificate?

    /// No errors (warnings allowed).
    public var isValid: Bool { !findings.hasErrors }
}

/// Checks a pass package the way Wallet and the known validators do.
public enum PassVerifier {
    /// Checks every part of a `.pkpass` and lists every finding; it never stops at the first.
    /// - Parameters:
    ///   - bytes: the package.
    ///   - trustAnchors: certificates the signer must chain to (Apple's root, or an intermediate
    ///     such as WWDR G4: a partial chain is enough). `nil` leaves the chain unchecked, with a warning.
    ///   - now: the time certificates are checked at.
    public static func verify(_ bytes: [UInt8], trustAnchors: [Certificate]?, now: Date = Date()) -> PassVerification {
        var findings: [PassFinding] = []
        func fault(_ file: String, field: String? = nil, _ message: String) { findings.append(PassFinding(.error, file: file, field: field, message)) }
        func caution(_ file: String, _ message: String) { findings.append(PassFinding(.warning, file: file, message)) }

        let reader: ZipReader
        do { reader = try ZipReader(bytes: bytes, limits: PassTemplate.limits) } catch let failure {
            fault("pass", "\(failure)")
            return PassVerification(findings: findings, passJSON: nil, signer: nil)
        }

        var files: [String: [UInt8]] = [:]
        for entry in reader.entries where !entry.name.hasSuffix("/") {
            do { files[entry.name] = try reader.read(entry) } catch let failure {
                fault(entry.name, "cannot be read from the zip: \(failure)")
            }
        }
        for name in ["pass.json", "manifest.json", "signature"] where files[name] == nil {
            fault(name, "is missing")
        }

        // pass.json
        var passJSON: JSONValue?
        if let source = files["pass.json"] {
            do {
                let json = try JSONParser.parse(source)
                passJSON = json
                findings += PassJSONRules.check(json, mode: .pass)
            } catch let failure {
                fault("pass.json", "is not valid JSON: \(failure)")
            }
        }

        // manifest.json: every file hashed, nothing unlisted, nothing listed that is absent.
        if let source = files["manifest.json"] {
            switch try? JSONParser.parse(source) {
            case .object(let manifest)?:
                for name in files.keys.sorted() where name != "manifest.json" && name != "signature" {
                    guard let listed = manifest[name] else {
                        fault(name, "is in the package but not in manifest.json")
                        continue
                    }
                    let actual = Digest.hex(Digest.sha1(files[name]!))
                    if listed.stringValue?.lowercased() != actual {
                        fault(name, "does not match its SHA-1 in manifest.json (listed \(listed.stringValue ?? listed.typeName), actual \(actual))")
                    }
                }
                for name in manifest.keys where files[name] == nil {
                    fault("manifest.json", field: name, "lists a file the package does not hold")
                }
            case _?:
                fault("manifest.json", "must be a JSON object of file names to SHA-1 hashes")
            case nil:
                fault("manifest.json", "is not valid JSON")
            }
        }

        // Images.
        var images: Set<String> = []
        for (name, data) in files where name.hasSuffix(".png") {
            if PNGInfo(data) == nil { fault(name, "is not a PNG image") } else { images.insert(name) }
        }
        if !images.contains("icon.png") { fault("icon.png", "is missing; Wallet requires an icon") }
        for name in images.sorted() {
            let file = String(name.split(separator: "/").last!)
            guard let image = PassImageName(fileName: file), image.scale > 1 else { continue }
            let base = name.dropLast(file.count) + image.base + ".png"
            if let one = files[String(base)].flatMap(PNGInfo.init), let many = PNGInfo(files[name]!),
               many.width != one.width * image.scale || many.height != one.height * image.scale {
                caution(name, "is \(many.width)×\(many.height), not \(image.scale)× \(base) (\(one.width)×\(one.height))")
            }
        }

        // The signature.
        var signer: Certificate?
        if let signature = files["signature"], let manifest = files["manifest.json"] {
            do {
                let report = try DetachedSignatureCheck.check(signature: signature, content: manifest, trustAnchors: trustAnchors, at: now)
                signer = report.signer
                if !report.isDetached { fault("signature", "embeds its content; Wallet needs a detached signature over manifest.json") }
                if !report.signatureValid { fault("signature", "does not verify over manifest.json: \(report.signatureProblem ?? "")") }
                if report.signingTime == nil { caution("signature", "carries no signing time") }
                if let signer = report.signer {
                    let subject = signer.subject
                    if let root = passJSON?.objectValue {
                        if let passType = root["passTypeIdentifier"]?.stringValue, subject.userID != passType {
                            fault("signature", "is signed by a certificate for \"\(subject.userID ?? "no UID")\" but passTypeIdentifier is \"\(passType)\"")
                        }
                        if let team = root["teamIdentifier"]?.stringValue, subject.organizationalUnit != team {
                            fault("signature", "is signed by team \"\(subject.organizationalUnit ?? "no OU")\" but teamIdentifier is \"\(team)\"")
                        }
                    }
                    if signer.notAfter < now { fault("signature", "is made with a certificate that expired on \(PassSigningIdentity.day(signer.notAfter))") }
                    let others = report.includedCertificates.filter { !$0.isSame(as: signer) }
                    if !others.contains(where: { signer.isIssued(by: $0) }) {
                        fault("signature", "does not include the intermediate (Apple WWDR) certificate that issued the signer")
                    }
                } else {
                    fault("signature", "does not include the signer's certificate")
                }
                switch report.chainProblem {
                case nil: caution("signature", "chain not checked: give --ca with Apple's root or WWDR G4 certificate")
                case .some(nil): break
                case .some(let problem?): fault("signature", "does not chain to the certificate given with --ca: \(problem)")
                }
            } catch let failure {
                fault("signature", "\(failure)")
            }
        }
        return PassVerification(findings: findings.sorted { $0.severity < $1.severity }, passJSON: passJSON, signer: signer)
    }
}
