import ApplePass
import ArgumentParser
import GoogleWallet
import PasslineCrypto
import Foundation

struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Signing certificates.",
        subcommands: [Dev.self, GoogleDev.self]
    )

    struct Dev: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a development identity shaped like Apple's chain (root → WWDR stand-in → Pass Type ID).",
            discussion: "Passes signed with it verify against its root.pem but do NOT install on real devices; use an Apple Pass Type ID certificate for those."
        )

        @Option(help: "Folder to write root.pem, wwdr.pem, certificate.pem and private-key.pem into.")
        var out: String

        @Option(name: .customLong("pass-type-id"), help: "Pass type identifier, e.g. pass.com.example.loyalty.")
        var passTypeID: String

        @Option(name: .customLong("team-id"), help: "Apple team identifier (10 characters).")
        var teamID: String

        @Option(help: "Days the pass certificate stays valid.")
        var days: Int = 365

        func validate() throws {
            guard passTypeID.hasPrefix("pass.") else {
                throw ValidationError("--pass-type-id must start with \"pass.\" as Apple's do (e.g. pass.com.example.loyalty), found \"\(passTypeID)\".")
            }
            guard !teamID.isEmpty, teamID.allSatisfy({ $0.isLetter || $0.isNumber }) else {
                throw ValidationError("--team-id must be letters and digits (Apple's are 10 characters), found \"\(teamID)\".")
            }
            guard days > 0 else { throw ValidationError("--days must be positive, found \(days).") }
        }

        func run() throws {
            let identity = try DevelopmentIdentity.generate(passTypeIdentifier: passTypeID, teamIdentifier: teamID, validDays: days)
            let directory = URL(commandLinePath: out)
            try identity.write(to: directory)
            print("Wrote a development identity for \(passTypeID) (team \(teamID)) to \(directory.path):")
            print("  root.pem         throwaway root: pass it to `passline pass verify --ca`")
            print("  wwdr.pem         intermediate standing in for Apple WWDR G4")
            print("  certificate.pem  Pass Type ID certificate, valid \(days) days")
            print("  private-key.pem  its private key (mode 0600)")
            Console.error("warning: development passes do not install on real devices; sign with an Apple Pass Type ID certificate for that.")
        }
    }
}

extension CertsCommand {
    struct GoogleDev: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "google-dev",
            abstract: "Write a development service-account key file for the local Google stand-in.",
            discussion: "Shaped like the JSON key files Google Cloud issues, with a fresh RSA key; Google itself knows nothing of it."
        )

        @Option(help: "The key file to write (mode 0600).")
        var out: String

        @Option(help: "The service account's email.")
        var email = "passline-dev@passline-local.iam.gserviceaccount.com"

        func run() throws {
            guard email.contains("@") else { throw ValidationError("--email must be an email address, found \"\(email)\".") }
            let file = try ServiceAccountKey.file(email: email, key: try PrivateKey.generateRSA())
            let url = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: out, contents: Data(file), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("Cannot write \(out).")
            }
            print("Wrote a development service-account key for \(email) to \(out).")
        }
    }
}
