import ApplePass
import ArgumentParser
import Foundation
import PasslineAPNsSim
import PasslineCrypto
import PasslineHTTPClient
import PasslinePush
import PasslineService
import PasslineSQL
import PasslineSQLite
import PasslineStore
import Synchronization

struct PushLatencyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push-latency",
        abstract: "The time from a committed transaction to its push arriving at the APNs stand-in: p50 and p99, idle and while a campaign runs.",
        discussion: """
            The push worker and the campaign runner run as `passline serve` runs them, over SQLite in a temporary folder (or the store --database-url names). \
            One card's transactions are committed one after another (each waits for its push) first with nothing else \
            queued, then while a campaign fans out to --campaign-devices other cards' devices. With --json the last line \
            is {changes, campaignDevices, idle: {p50, p99}, duringCampaign: {p50, p99}, campaignPushesWhileMeasured} in milliseconds.
            """
    )

    @Option(name: .customLong("database-url"), help: "Run on this store (an empty PostgreSQL schema, say) instead of a temporary SQLite file.")
    var databaseURL: String?

    @Option(help: "Transactions measured in each phase.")
    var changes = 200

    @Option(help: "Devices (one card each) the campaign fans out to.")
    var campaignDevices = 50_000

    @Flag(help: "Print the result as a JSON line.")
    var json = false

    struct Percentiles: Encodable { let p50: Double, p99: Double }
    struct Result: Encodable {
        let changes: Int
        let campaignDevices: Int
        let idle: Percentiles
        let duringCampaign: Percentiles
        let campaignPushesWhileMeasured: Int
    }

    func run() async throws {
        guard changes > 0, campaignDevices > 0 else { throw ValidationError("--changes and --campaign-devices must be at least 1.") }
        let store = try await PushBenchStore.make(label: "latency", databaseURL: databaseURL)
        defer { store.remove() }
        let (folder, passType, identity, database, tenants, tenant) = (store.folder, store.passType, store.identity, store.database, store.tenants, store.tenant)
        let counterToken = String(repeating: "f", count: 64)
        let devices = campaignDevices
        let templates = Templates(database: database)
        let files = try PassTemplate.files(inFolder: ShippedTemplates.folder("loyalty"))
        let campaignTemplate = try await templates.create(tenant: tenant, name: "campaign", files: files).id
        let counterTemplate = try await templates.create(tenant: tenant, name: "counter", files: files).id
        Console.error("registering \(devices) campaign devices and the counter's…")
        try await database.transaction { connection in
            try CardRows.insert(.init(serialNumber: "COUNTER", templateID: counterTemplate, memberID: "M", memberName: "Counter",
                                         authenticationToken: String(repeating: "a", count: 32), publicToken: "counter", points: 0),
                                   tenant: tenant, now: 1, on: connection)
            _ = try Devices.register(tenant: tenant, device: "counter", pushToken: counterToken, passType: passType, serial: "COUNTER", now: 1, on: connection)
        }
        try await store.addCampaignCards(devices, template: campaignTemplate)

        // Arrival of the counter's pushes, and a count of everyone else's.
        let arrivals = Mutex<(counter: [Int64], others: Int)>(([], 0))
        let credentials = try StandInCredentials.generate()
        let caFile = folder.appendingPathComponent("ca.pem")
        try Data(credentials.authorityPEM).write(to: caFile)
        var simConfiguration = APNsSimulator.Configuration(certificateChainPEM: credentials.certificateChainPEM, keyPEM: credentials.keyPEM,
                                                           clientCAPEM: identity.root.pemBytes, recordPushes: false)
        simConfiguration.onPush = { push in
            let at = Self.now()
            arrivals.withLock { if push.token == counterToken { $0.counter.append(at) } else { $0.others += 1 } }
        }
        let sim = try await APNsSimulator.start(simConfiguration)
        let client = HTTPClient(configuration: .init(caFile: caFile.path))
        let jobs = JobQueue(database: database)
        let worker = PushWorker(jobs: jobs, tenants: tenants, client: client, configuration: .init(apnsURL: "https://127.0.0.1:\(sim.port)"), logger: CommandLogger.shared)
        let campaigns = CardCampaigns(cards: Cards(database: database, templates: templates, tenants: tenants, publicURL: "https://bench.invalid"), jobs: jobs, logger: CommandLogger.shared)
        let pushing = Task { await worker.run() }
        let campaigning = Task { await campaigns.run() }

        /// Commits one transaction on the counter's card and waits for its push: milliseconds between.
        func measure() async throws -> [Double] {
            var latencies: [Double] = []
            for _ in 0..<changes {
                let before = arrivals.withLock { $0.counter.count }
                let committed = try await database.transaction { connection in
                    _ = try Ledger.apply(tenant: tenant, mode: .live, .init(serial: "COUNTER", points: 1, reason: "visit", amount: nil, actor: nil,
                                                                           idempotencyKey: nil, requestHash: []), now: WallClock.milliseconds(), on: connection)
                    return Self.now()
                }
                jobs.notifyCommitted()
                let deadline = Self.now() + 30_000_000
                while arrivals.withLock({ $0.counter.count }) == before {
                    guard Self.now() < deadline else { throw ValidationError("a push took more than 30 s; see the job table's errors.") }
                    try await Task.sleep(for: .microseconds(200))
                }
                latencies.append(Double(arrivals.withLock { $0.counter[before] } - committed) / 1000)
            }
            return latencies
        }

        Console.error("idle: \(changes) transactions, one at a time…")
        let idle = try await measure()
        Console.error("during a campaign to \(devices) devices…")
        let campaign = try await campaigns.start(tenant: tenant, mode: .live, template: "campaign", change: .init())
        // Measure once the campaign's pushes are flowing, not while it is still being set up.
        while arrivals.withLock({ $0.others }) < min(2_000, devices / 2) { try await Task.sleep(for: .milliseconds(5)) }
        let othersBefore = arrivals.withLock { $0.others }
        let during = try await measure()
        let othersDuring = arrivals.withLock { $0.others } - othersBefore
        let status = try await campaigns.status(tenant: tenant, id: campaign.id)
        if status.campaign.state == "finished" && arrivals.withLock({ $0.others }) >= devices {
            Console.error("warning: the campaign finished before the measurement did; use more --campaign-devices.")
        }
        pushing.cancel()
        campaigning.cancel()
        await pushing.value
        await campaigning.value
        client.shutdown()
        await sim.stop()

        let result = Result(changes: changes, campaignDevices: devices, idle: Self.percentiles(idle), duringCampaign: Self.percentiles(during),
                            campaignPushesWhileMeasured: othersDuring)
        Console.error(String(format: "idle:            p50 %.1f ms, p99 %.1f ms", result.idle.p50, result.idle.p99))
        Console.error(String(format: "during campaign: p50 %.1f ms, p99 %.1f ms (%d campaign pushes went out meanwhile)",
                             result.duringCampaign.p50, result.duringCampaign.p99, othersDuring))
        if json { try Console.printJSONLine(result) }
    }

    /// Microseconds of wall-clock time: both ends of a measurement are in this process.
    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    static func percentiles(_ values: [Double]) -> Percentiles {
        let sorted = values.sorted()
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] }
        return Percentiles(p50: (at(0.5) * 10).rounded() / 10, p99: (at(0.99) * 10).rounded() / 10)
    }
}
