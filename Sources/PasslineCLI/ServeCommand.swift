import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PasslineDatabase
import PasslineGoogle
import PasslineHTTPClient
import PasslinePush
import PasslineServer
import PasslineService
import PasslineStore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the server: migrates the store first, then serves until SIGTERM or SIGINT.",
        discussion: """
            Reads PASSLINE_LISTEN (default 127.0.0.1:8080), PASSLINE_PUBLIC_URL (default http://<listen>), \
            PASSLINE_DATABASE_URL (default sqlite:./var/passline.sqlite), PASSLINE_MASTER_KEY or PASSLINE_MASTER_KEY_FILE \
            (default: a key file made under ./var), PASSLINE_ADMIN_TOKEN (default: admin API off), \
            PASSLINE_APNS_URL (default https://api.push.apple.com), PASSLINE_APNS_CA_FILE (default: the system's trust store), \
            PASSLINE_GOOGLE_TOKEN_URL, PASSLINE_GOOGLE_API_URL, PASSLINE_GOOGLE_CA_FILE, PASSLINE_GOOGLE_REQUESTS_PER_SECOND (default 20 per issuer).
            """
    )

    @Option(help: "HOST:PORT to listen on; overrides PASSLINE_LISTEN.")
    var listen: String?

    func run() async throws {
        let configuration: ServerConfiguration
        do { configuration = try ServerConfiguration.resolve(listen: listen) } catch let invalid as ServerConfiguration.Invalid {
            throw ValidationError(invalid.description)
        }
        let logger = {
            var logger = Logger(label: "passline")
            logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return logger
        }()
        let url = try DatabaseURL.fromEnvironment()
        let database = try await url.open()
        let applied = try await Migrator.migrate(database)
        if !applied.isEmpty { logger.info("applied migrations", metadata: ["migrations": .string(applied.map(String.init).joined(separator: ","))]) }
        let secrets = try await MasterKey.open(database: database) { logger.warning("\($0)") }
        let tenants = Tenants(database: database, secrets: secrets)
        let templates = Templates(database: database)
        let cards = Cards(database: database, templates: templates, tenants: tenants, publicURL: configuration.publicURL)
        let jobs = JobQueue(database: database)
        let (googleAPI, googleClient) = try GoogleEnvironment.api()
        let google = GoogleSyncWorker(api: googleAPI, cards: cards, jobs: jobs, logger: logger)
        let services = Services(tenants: tenants, templates: templates, cards: cards, jobs: jobs,
                                googleSaveURL: { card in try await google.saveLink(for: card) })
        let environment = ProcessInfo.processInfo.environment
        let apnsURL = environment["PASSLINE_APNS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://api.push.apple.com"
        guard apnsURL.hasPrefix("https://") else { throw ValidationError("PASSLINE_APNS_URL must be an https URL (APNs speaks HTTP/2 over TLS), found \"\(apnsURL)\".") }
        let caFile = environment["PASSLINE_APNS_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ValidationError("PASSLINE_APNS_CA_FILE names \(caFile), which cannot be read.")
        }
        let client = HTTPClient(configuration: .init(caFile: caFile))
        let worker = PushWorker(jobs: services.jobs, tenants: tenants, client: client, configuration: .init(apnsURL: apnsURL),
                                signing: services.cards.identities, logger: logger)
        let app = buildApplication(database: database, services: services, configuration: configuration, logger: logger,
                                   processMetrics: ProcessMetrics { PushWorkerMetrics.render(worker) }) { port in
            logger.info("Passline is listening", metadata: ["address": .string("\(configuration.host):\(port)"), "store": .string(url.description),
                                                         "public_url": .string(configuration.publicURL)])
        }
        let listener = services.jobs.listenForOtherProcesses()
        let pushing = Task { await worker.run() }
        let campaigning = Task { await services.campaigns.run() }
        let syncing = Task { await google.run() }
        let purging = Task { await JobRetention().run(services.jobs, logger: logger) }
        logger.info("sending pushes", metadata: ["apns": .string(apnsURL)])
        try await app.runService()
        // In-flight requests have finished; stop claiming, let the batch in hand settle.
        pushing.cancel()
        campaigning.cancel()
        syncing.cancel()
        purging.cancel()
        listener?.cancel()
        await pushing.value
        await campaigning.value
        await syncing.value
        await purging.value
        client.shutdown()
        googleClient.shutdown()
        await database.close()
    }
}

/// The push worker's in-memory figures for `/metrics`: both should stay at 0, and a rise says a
/// batch may have gone out twice (the process stalled longer than a lease).
enum PushWorkerMetrics {
    static func render(_ worker: PushWorker) -> String {
        """
        # HELP passline_push_lease_renewal_failures_total Renewals of push batches' leases that the store did not take.
        # TYPE passline_push_lease_renewal_failures_total counter
        passline_push_lease_renewal_failures_total \(worker.leases.renewalFailuresCount)
        # HELP passline_push_leases_lost_total Claimed pushes whose lease another worker took before it was renewed.
        # TYPE passline_push_leases_lost_total counter
        passline_push_leases_lost_total \(worker.leases.leasesLost)

        """
    }
}
