import ApplePass
import ArgumentParser
import Foundation
import PasslineCrypto
import PasslineJSON

struct PassCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pass",
        abstract: "Build and verify Apple Wallet passes.",
        subcommands: [Build.self, Verify.self]
    )

    /// Where the signing identity comes from: a folder of PEM files, or a .p12 with the WWDR certificate.
    struct IdentityOptions: ParsableArguments {
        @Option(help: "Folder with certificate.pem, private-key.pem and wwdr.pem.")
        var identity: String?

        @Option(help: "PKCS#12 file with the Pass Type ID certificate and key (instead of --identity).")
        var p12: String?

        @Option(name: .customLong("password-env"), help: "Environment variable holding the .p12 password.")
        var passwordEnv: String?

        @Option(help: "Apple WWDR intermediate certificate (PEM or DER), with --p12.")
        var wwdr: String?

        @Option(name: .customLong("key-password-env"), help: "Environment variable holding the passphrase of an encrypted private-key.pem.")
        var keyPasswordEnv: String?

        func validate() throws {
            switch (identity, p12) {
            case (nil, nil): throw ValidationError("Give the signing identity: --identity DIR, or --p12 FILE --password-env VAR --wwdr FILE.")
            case (_?, _?): throw ValidationError("Give either --identity or --p12, not both.")
            case (nil, _?):
                guard wwdr != nil else { throw ValidationError("--p12 needs --wwdr FILE, Apple's WWDR intermediate certificate.") }
            case (_?, nil): break
            }
        }

        func load() throws -> PassSigningIdentity {
            if let identity {
                let passphrase = try keyPasswordEnv.map { try environment($0) }
                return try PassSigningIdentity.load(directory: URL(commandLinePath: identity), keyPassphrase: passphrase)
            }
            let password = try passwordEnv.map { try environment($0) } ?? ""
            return try PassSigningIdentity.load(p12: URL(commandLinePath: p12!), password: password, wwdr: URL(commandLinePath: wwdr!))
        }

        private func environment(_ name: String) throws -> String {
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw ValidationError("The environment variable \(name) is not set.")
            }
            return value
        }
    }

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build one signed .pkpass from a template and a card's data.")

        @Option(help: "Template folder, e.g. PassTemplates/loyalty.pass.")
        var template: String

        @Option(help: "JSON file with the card's values (serialNumber, memberId, …).")
        var data: String

        @OptionGroup var signing: IdentityOptions

        @Option(help: "Where to write the .pkpass.")
        var out: String

        func run() throws {
            let template = try PassTemplate.load(folder: URL(commandLinePath: template))
            for warning in template.warnings { Console.error("\(template.name): \(warning)") }
            let identity = try signing.load()
            for warning in identity.warnings { Console.error("warning: \(warning)") }

            let dataURL = URL(commandLinePath: data)
            guard let bytes = FileManager.default.contents(atPath: dataURL.path) else {
                throw PassError(.unreadableFile, "\(dataURL.path) does not exist or cannot be read.")
            }
            let json: JSONValue
            do { json = try JSONParser.parse([UInt8](bytes)) } catch {
                throw PassError(.invalidCardData, "\(dataURL.path) is not valid JSON: \(error)")
            }
            let card: CardData
            do { card = try CardData(json: json) } catch let error as PassError {
                throw PassError(.invalidCardData, "\(dataURL.path): \(error.message)")
            }
            let pass: [UInt8]
            do { pass = try PassBuilder(identity: identity).build(template: template, card: card) } catch let error as PassError where error.code == .invalidCardData {
                throw PassError(.invalidCardData, "\(dataURL.path): \(error.message)")
            }
            let outURL = URL(commandLinePath: out)
            do { try Data(pass).write(to: outURL, options: .atomic) } catch {
                throw PassError(.unreadableFile, "\(outURL.path) cannot be written: \(error.localizedDescription)")
            }
            print("Wrote \(outURL.path) (\(pass.count) bytes, serial \(card.serialNumber), \(identity.passTypeIdentifier)).")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a .pkpass the way Wallet does and list every finding.",
            discussion: "Exit status 0 when the pass is valid (warnings allowed), 1 when not."
        )

        @Argument(help: "The .pkpass file.")
        var file: String

        @Option(help: "Certificate(s) the signer must chain to: a root or an intermediate such as Apple's WWDR G4.")
        var ca: String?

        func run() throws {
            let url = URL(commandLinePath: file)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw PassError(.unreadableFile, "\(url.path) does not exist or cannot be read.")
            }
            let anchors = try ca.map { try PassSigningIdentity.readCertificates(URL(commandLinePath: $0)) }
            let result = PassVerifier.verify([UInt8](data), trustAnchors: anchors)
            for finding in result.findings { print(finding) }
            let errors = result.findings.errors.count, warnings = result.findings.warnings.count
            if result.isValid {
                print("\(url.lastPathComponent): valid (\(warnings) warning\(warnings == 1 ? "" : "s")).")
            } else {
                print("\(url.lastPathComponent): NOT valid (\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")).")
                throw ExitCode(1)
            }
        }
    }
}
