import Foundation
import Hummingbird
import Logging
import PasslineDatabase
import PasslineGoogle
import PasslineHTTPClient
import PasslinePush
import PasslineServer
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineWebhooks
import ServiceLifecycle

/// What `passline serve` runs: the object graph, built once from one configuration, and its
/// services in one group. SIGTERM or SIGINT shuts them down in reverse order: the server first
/// (no new requests; those in flight finish), then the workers (each finishes and settles the
/// batch in hand and takes no new one), then the listener; the store closes last.
struct PasslineProcess {
    let configuration: ServeConfiguration
    let logger: Logger
    let database: any SQLDatabase
    let services: Services
    let push: PushWorker
    let google: GoogleSyncWorker
    let webhooks: WebhookSender
    /// The outbound clients, shut down after every service that uses them has ended.
    let clients: [HTTPClient]

    /// A graceful shutdown that has not finished by then is cut short (a batch stuck on a dead
    /// connection is retried after a restart once its lease runs out). Under the 30 seconds
    /// that process managers commonly wait before SIGKILL.
    static let shutdownTimeout = Duration.seconds(25)

    /// Opens and migrates the store, checks the master key, and builds everything once.
    static func build(_ configuration: ServeConfiguration, logger: Logger) async throws -> PasslineProcess {
        let database = try await configuration.database.open()
        do {
            let applied = try await Migrator.migrate(database)
            if !applied.isEmpty { logger.info("applied migrations", metadata: ["store.migrations": .string(applied.map(String.init).joined(separator: ","))]) }
            let secrets = try await MasterKey.open(database: database, environment: configuration.environment) { logger.warning("master key", metadata: ["master_key.note": .string($0)]) }
            let tenants = Tenants(database: database, secrets: secrets)
            let templates = Templates(database: database)
            let cards = Cards(database: database, templates: templates, tenants: tenants, publicURL: configuration.server.publicURL)
            let jobs = JobQueue(database: database)
            let (googleAPI, googleClient) = configuration.google.makeAPI()
            let google = GoogleSyncWorker(api: googleAPI, cards: cards, jobs: jobs, logger: logger)
            let webhooks = Webhooks(database: database, secrets: secrets, addresses: WebhookAddresses(allowLoopback: configuration.webhookAllowLoopback))
            let services = Services(tenants: tenants, templates: templates, cards: cards, jobs: jobs, logger: logger,
                                    googleSaveURL: { card in try await google.saveLink(for: card) }, webhooks: webhooks,
                                    rateLimits: .some(configuration.apiRateLimit.map { RateLimits(database: database, defaults: .init(key: $0)) }),
                                    googleKeys: googleAPI)
            let webhookClient = HTTPClient(configuration: .init(maxInFlight: 512, connectTimeoutMilliseconds: 5_000))
            let sender = WebhookSender(webhooks: webhooks, jobs: jobs, client: webhookClient, logger: logger)
            let apnsClient = HTTPClient(configuration: .init(caFile: configuration.apnsCAFile))
            let push = PushWorker(jobs: jobs, tenants: tenants, client: apnsClient, configuration: .init(apnsURL: configuration.apnsURL),
                                  signing: cards.identities, logger: logger)
            return PasslineProcess(configuration: configuration, logger: logger, database: database, services: services, push: push,
                                   google: google, webhooks: sender, clients: [apnsClient, googleClient, webhookClient])
        } catch {
            await database.close()
            throw error
        }
    }

    /// Runs until SIGTERM or SIGINT, then shuts down as above and closes the store.
    func run() async throws {
        let (configuration, logger) = (self.configuration, self.logger)
        let app = buildApplication(services: services, configuration: configuration.server, logger: logger,
                                   processMetrics: ProcessMetrics { [push] in PushWorkerMetrics.render(push) }) { port in
            logger.info("Passline is listening", metadata: [
                "server.address": .string("\(configuration.server.host):\(port)"), "store.url": .string(configuration.database.description),
                "server.public_url": .string(configuration.server.publicURL), "apns.url": .string(configuration.apnsURL),
            ])
        }
        // Shut down in reverse: the server before the workers, so a request's committed
        // change still finds a worker; the wake-ups from other processes last.
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: CrossProcessWakeups(jobs: services.jobs)),
                .init(service: JobRetention().service(jobs: services.jobs, logger: logger)),
                .init(service: PointsScheduler(database: database, programs: services.programs, jobs: services.jobs, logger: logger)),
                .init(service: google),
                .init(service: webhooks),
                .init(service: services.campaigns),
                .init(service: services.imports),
                .init(service: push),
                .init(service: app),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger
        ).withShutdownTimeout(Self.shutdownTimeout))
        do {
            try await group.run()
        } catch {
            await close()
            throw error
        }
        await close()
        logger.info("Passline stopped")
    }

    private func close() async {
        for client in clients { client.shutdown() }
        await database.close()
    }
}

extension ServiceGroupConfiguration {
    fileprivate func withShutdownTimeout(_ timeout: Duration) -> ServiceGroupConfiguration {
        var copy = self
        copy.maximumGracefulShutdownDuration = timeout
        return copy
    }
}

/// Wakes this process's workers when another process commits work (PostgreSQL's LISTEN; with
/// SQLite there is one process, and nothing to listen to).
struct CrossProcessWakeups: Service {
    let jobs: JobQueue

    func run() async throws {
        let listener = jobs.listenForOtherProcesses()
        // Runs until the shutdown: a service that returned early would end the group.
        try? await gracefulShutdown()
        listener?.cancel()
        await listener?.value
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
