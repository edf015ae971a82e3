import ApplePass
import ArgumentParser
import Foundation
import PasslineDatabase
import LoyaltyRules
import PasslineGoogle
import PasslineServer
import PasslineSQL
import PasslineService
import PasslineStore

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Tenants (businesses) and their API keys, in the store PASSLINE_DATABASE_URL names.",
        subcommands: [Create.self, Show.self, Identity.self, Key.self, Google.self, Invite.self, Suspend.self, Resume.self]
    )

    /// The store and the master key, as `serve` finds them.
    struct StoreOptions: ParsableArguments {
        @Option(name: .customLong("database-url"), help: "Overrides PASSLINE_DATABASE_URL.")
        var databaseURL: String?

        func open() async throws -> Tenants {
            let url = try databaseURL.map(DatabaseURL.init(parsing:)) ?? DatabaseURL.fromEnvironment()
            let database = try await url.open(maxConnections: 2)
            try await Migrator.migrate(database)
            let secrets = try await MasterKey.open(database: database) { Console.error("warning: \($0)") }
            return Tenants(database: database, secrets: secrets)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a tenant with its signing identity, and print one live and one test API key (shown only here)."
        )

        @Option(help: "The business's name.")
        var name: String

        @Option(name: .customLong("pass-type-id"), help: "Pass type identifier; must be the certificate's UID.")
        var passTypeID: String

        @Option(name: .customLong("team-id"), help: "Apple team identifier; must be the certificate's OU.")
        var teamID: String

        @Option(help: "Folder with certificate.pem, private-key.pem and wwdr.pem.")
        var identity: String

        @Option(name: .customLong("key-password-env"), help: "Environment variable holding the private key's passphrase.")
        var keyPasswordEnv: String?

        @Flag(help: "Print one JSON object {\"id\", \"name\", \"passTypeIdentifier\", \"liveKey\", \"testKey\"}.")
        var json = false

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let passphrase = keyPasswordEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
            let loaded = try PassSigningIdentity.load(directory: URL(commandLinePath: identity), keyPassphrase: passphrase)
            guard loaded.passTypeIdentifier == passTypeID else {
                throw PassError(.invalidIdentity, "--pass-type-id is \(passTypeID) but the certificate in \(identity) is for \(loaded.passTypeIdentifier).")
            }
            guard loaded.teamIdentifier == teamID else {
                throw PassError(.invalidIdentity, "--team-id is \(teamID) but the certificate in \(identity) belongs to team \(loaded.teamIdentifier).")
            }
            for warning in loaded.warnings { Console.error("warning: \(warning)") }
            let tenants = try await store.open()
            let created = try await tenants.create(name: name, identity: loaded)
            await tenants.database.close()
            if json {
                try Console.printJSONLine(created)
            } else {
                print("Created tenant \(created.id) (\(created.name), \(created.passTypeIdentifier)).")
                print("  live key: \(created.liveKey)")
                print("  test key: \(created.testKey)")
                print("The keys are shown only now; Passline keeps only their hashes.")
            }
        }
    }

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A tenant's API keys.", subcommands: [CreateKey.self, RevokeKey.self])

        struct CreateKey: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "create", abstract: "Make a new API key (shown only now).")

            @Option(help: "The tenant's id.")
            var tenant: String

            @Option(help: "live or test.")
            var mode: CardModeOption = .init(.live)

            @OptionGroup var store: StoreOptions

            func run() async throws {
                let tenants = try await store.open()
                let key = try await tenants.createKey(tenant: tenant, mode: mode.value)
                await tenants.database.close()
                print(key)
            }
        }

        struct RevokeKey: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke an API key, named in full or by its first 12 characters.")

            @Option(help: "The tenant's id.")
            var tenant: String

            @Option(help: "The key, or its prefix as listed (pl_live_Ab3d).")
            var key: String

            @OptionGroup var store: StoreOptions

            func run() async throws {
                let tenants = try await store.open()
                try await tenants.revokeKey(tenant: tenant, key: key)
                await tenants.database.close()
                print("Revoked \(String(key.prefix(12)))… of tenant \(tenant).")
            }
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Suspend a tenant: its API answers 403 naming the reason, its staff cannot sign in, its pushes wait; issued passes are still served.")

        @Option(help: "The tenant's id.")
        var tenant: String

        @Option(help: "Why, as the tenant's API answers will say.")
        var reason: String

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let tenants = try await store.open()
            try await tenants.suspend(tenant: tenant, reason: reason)
            await tenants.database.close()
            print("Suspended tenant \(tenant): \(reason)")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a suspended tenant; its waiting pushes go out.")

        @Option(help: "The tenant's id.")
        var tenant: String

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let tenants = try await store.open()
            try await tenants.resume(tenant: tenant)
            await tenants.database.close()
            print("Resumed tenant \(tenant).")
        }
    }

    struct Invite: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Invite someone to a tenant's web app, and print their one-time sign-in link (valid 7 days).",
            discussion: "The link starts with PASSLINE_PUBLIC_URL (default http://<PASSLINE_LISTEN>), as `passline serve` reads them."
        )

        @Option(help: "The tenant's id.")
        var tenant: String

        @Option(help: "Their e-mail address: what they sign in with.")
        var email: String

        @Option(help: "owner, manager or frontdesk.")
        var role: String

        @Option(help: "Their name, as the app shows it.")
        var name = ""

        @OptionGroup var store: StoreOptions

        func validate() throws {
            guard StaffRole(rawValue: role) != nil else { throw ValidationError("--role must be owner, manager or frontdesk, found \"\(role)\".") }
        }

        func run() async throws {
            let publicURL = try ServerConfiguration.resolve().publicURL
            let tenants = try await store.open()
            let staff = StaffAccounts(database: tenants.database, publicURL: publicURL)
            do {
                let invitation = try await staff.invite(tenant: tenant, email: email, role: StaffRole(rawValue: role)!, name: name, by: .operator)
                await tenants.database.close()
                print(invitation.link)
            } catch {
                await tenants.database.close()
                throw error
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show tenants: pass type, days until the certificate expires, and whether pushes are paused."
        )

        @Option(help: "Only this tenant.")
        var tenant: String?

        @Flag(help: "One JSON object a line.")
        var json = false

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let tenants = try await store.open()
            let list = try await tenants.list(only: tenant)
            let issuers = GoogleIssuers(database: tenants.database, secrets: tenants.secrets)
            var google: [String: GoogleIssuers.Info] = [:]
            for info in list { google[info.id] = try await issuers.info(tenant: info.id) }
            await tenants.database.close()
            if let tenant, list.isEmpty { throw ValidationError("There is no tenant \(tenant).") }
            for info in list {
                if json {
                    try Console.printJSONLine(TenantJSON(info, google: google[info.id]))
                } else {
                    let paused = info.pushPausedReason.map { "; pushes paused: \($0)" } ?? ""
                    let wallet = google[info.id].map { "; Google issuer \($0.issuerId)" + ($0.pausedReason.map { " (sync paused: \($0))" } ?? "") } ?? ""
                    print("\(info.id)  \(info.name)  \(info.passTypeIdentifier)  certificate expires in \(info.daysToExpiry) days\(paused)\(wallet)")
                }
            }
        }
    }

    struct Identity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A tenant's signing identity.", subcommands: [SetIdentity.self])

        struct SetIdentity: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "set",
                abstract: "Replace a tenant's signing identity (a renewed Pass Type ID certificate for the same pass type).",
                discussion: "The new identity must sign and verify a canary first. Paused pushes resume; a running server uses it within seconds."
            )

            @Option(help: "The tenant's id.")
            var tenant: String

            @Option(help: "Folder with certificate.pem, private-key.pem and wwdr.pem.")
            var identity: String

            @Option(name: .customLong("key-password-env"), help: "Environment variable holding the private key's passphrase.")
            var keyPasswordEnv: String?

            @OptionGroup var store: StoreOptions

            func run() async throws {
                let passphrase = keyPasswordEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
                let loaded = try PassSigningIdentity.load(directory: URL(commandLinePath: identity), keyPassphrase: passphrase)
                for warning in loaded.warnings { Console.error("warning: \(warning)") }
                let tenants = try await store.open()
                let info: Tenants.Info
                do { info = try await tenants.replaceIdentity(tenant: tenant, with: loaded) } catch {
                    await tenants.database.close()
                    throw error
                }
                await tenants.database.close()
                print("Tenant \(info.id) now signs with the certificate \(info.certificateFingerprint.prefix(16))…, which expires in \(info.daysToExpiry) days.")
            }
        }
    }
}

extension TenantCommand {
    struct Google: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A tenant's Google Wallet settings.", subcommands: [SetGoogle.self, CheckGoogle.self])

        struct SetGoogle: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "set",
                abstract: "Set a tenant's Google Wallet issuer and service account.",
                discussion: """
                    FILE is the service account's JSON key file as Google Cloud's console issues it; its private key is stored \
                    sealed with the master key. Every live card of the tenant is queued for its first sync.
                    """
            )

            @Option(help: "The tenant's id.")
            var tenant: String

            @Option(name: .customLong("issuer-id"), help: "The issuer id from the Google Pay & Wallet console.")
            var issuerID: String

            @Option(name: .customLong("service-account"), help: "The service account's JSON key file.")
            var serviceAccount: String

            @Option(name: .customLong("logo-url"), help: "A public https URL of the program logo (default: served by Passline under PASSLINE_PUBLIC_URL).")
            var logoURL: String?

            @Option(name: .customLong("origin"), help: "A web origin allowed to show the save button (repeatable).")
            var origins: [String] = []

            @OptionGroup var store: TenantCommand.StoreOptions

            func run() async throws {
                guard let file = FileManager.default.contents(atPath: serviceAccount) else {
                    throw ValidationError("The service-account key file \(serviceAccount) cannot be read.")
                }
                let tenants = try await store.open()
                let issuers = GoogleIssuers(database: tenants.database, secrets: tenants.secrets)
                do {
                    let (info, queued) = try await issuers.set(tenant: tenant, issuerID: issuerID, serviceAccountJSON: [UInt8](file), logoURL: logoURL, origins: origins)
                    await tenants.database.close()
                    print("Tenant \(tenant) syncs to Google Wallet issuer \(info.issuerId) as \(info.serviceAccountEmail); \(queued) cards queued. Check it with: passline tenant google check --tenant \(tenant)")
                } catch {
                    await tenants.database.close()
                    throw error
                }
            }
        }

        struct CheckGoogle: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "check",
                abstract: "Get a token and list the issuer's classes with the tenant's settings, and explain what fails."
            )

            @Option(help: "The tenant's id.")
            var tenant: String

            @OptionGroup var store: TenantCommand.StoreOptions

            func run() async throws {
                let tenants = try await store.open()
                let (api, client) = try GoogleEnvironment.api()
                let cards = Cards(database: tenants.database, templates: Templates(database: tenants.database), tenants: tenants, publicURL: "https://localhost")
                let worker = GoogleSyncWorker(api: api, cards: cards, jobs: JobQueue(database: tenants.database), logger: CommandLogger.shared)
                defer { client.shutdown() }
                do {
                    let classes = try await worker.check(tenant: tenant)
                    await tenants.database.close()
                    print("Google Wallet works for tenant \(tenant): a token was issued and the issuer has \(classes.count) loyalty classes\(classes.isEmpty ? "" : ": " + classes.joined(separator: ", ")).")
                } catch {
                    await tenants.database.close()
                    throw ValidationError("Google Wallet check failed: \(error)")
                }
            }
        }
    }
}

/// A tenant as the command line and the admin API print it.
struct TenantJSON: Encodable {
    let id: String, name: String, passTypeIdentifier: String, teamIdentifier: String
    let certificateExpiresAt: String, daysToExpiry: Int64, certificateFingerprint: String, pushesPausedReason: String?
    /// The Google Wallet settings (no key material), when the tenant has them.
    let google: GoogleIssuers.Info?

    init(_ info: Tenants.Info, google: GoogleIssuers.Info? = nil) {
        self.google = google
        id = info.id; name = info.name; passTypeIdentifier = info.passTypeIdentifier; teamIdentifier = info.teamIdentifier
        certificateExpiresAt = Date(timeIntervalSince1970: Double(info.certificateNotAfter) / 1000).formatted(.iso8601)
        daysToExpiry = info.daysToExpiry; certificateFingerprint = info.certificateFingerprint; pushesPausedReason = info.pushPausedReason
    }
}
