import ApplePass
import ArgumentParser
import Foundation
import PasslineJSON
import Logging
import PasslineAPNsSim
import PasslineCrypto
import PasslineHTTPClient
import PasslinePush
import PasslineServer
import PasslineService
import PasslineSQL
import PasslineStore
import Synchronization

struct DeskBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "desk",
        abstract: "The front desk's path, scan to confirmation page and on to the push at the APNs stand-in: p50 and p99, idle and during a campaign.",
        discussion: """
            The server (web app, push worker, campaign runner) runs in this process, over SQLite in a temporary folder (or the store \
            --database-url names), with the APNs stand-in. A signed-in front desk does what the browser does, one customer after \
            another: the scan (GET /app/desk/find), the member's page, the confirmed purchase (POST) and the confirmation page it \
            leads to; then the card's push is awaited at the stand-in, timed from the POST. First with nothing else going on, then while a campaign fans \
            out to --campaign-devices other cards' devices. With --json the last line is {purchases, campaignDevices, idle, \
            duringCampaign}, each {desk: {p50, p99}, push: {p50, p99}} in milliseconds.
            """
    )

    @Option(name: .customLong("database-url"), help: "Run on this store (an empty PostgreSQL schema, say) instead of a temporary SQLite file.")
    var databaseURL: String?

    @Option(help: "Customers served in each phase.")
    var purchases = 200

    @Option(help: "Devices (one card each) the campaign fans out to.")
    var campaignDevices = 100_000

    @Flag(help: "Print the result as a JSON line.")
    var json = false

    struct Phase: Encodable {
        let desk: PushLatencyBench.Percentiles
        let push: PushLatencyBench.Percentiles
        /// Each request's own time: the scan, the member's page, the confirmed purchase, the confirmation page.
        let steps: [String: PushLatencyBench.Percentiles]
    }
    struct Result: Encodable {
        let purchases: Int
        let campaignDevices: Int
        let idle: Phase
        let duringCampaign: Phase
    }

    func run() async throws {
        guard purchases > 0, campaignDevices > 0 else { throw ValidationError("--purchases and --campaign-devices must be at least 1.") }
        let store = try await PushBenchStore.make(label: "desk", databaseURL: databaseURL)
        defer { store.remove() }
        let (folder, passType, database, tenants, tenant) = (store.folder, store.passType, store.database, store.tenants, store.tenant)
        let templates = Templates(database: database)
        let files = try PassTemplate.files(inFolder: ShippedTemplates.folder("loyalty"))
        let campaignTemplate = try await templates.create(tenant: tenant, name: "campaign", files: files).id
        let deskTemplate = try await templates.create(tenant: tenant, name: "loyalty", files: files).id
        let deskToken = String(repeating: "e", count: 64)
        try await database.transaction { connection in
            try CardRows.insert(.init(serialNumber: "DESK", templateID: deskTemplate, memberID: "M-DESK", memberName: "Zoë",
                                         authenticationToken: String(repeating: "a", count: 32), publicToken: "desk", points: 0),
                                   tenant: tenant, now: 1, on: connection)
            _ = try Devices.register(tenant: tenant, device: "desk-phone", pushToken: deskToken, passType: passType, serial: "DESK", now: 1, on: connection)
        }
        Console.error("registering \(campaignDevices) campaign devices…")
        try await store.addCampaignCards(campaignDevices, template: campaignTemplate)

        let arrivals = Mutex<(desk: [Int64], others: Int)>(([], 0))
        let credentials = try StandInCredentials.generate()
        let caFile = folder.appendingPathComponent("ca.pem")
        try Data(credentials.authorityPEM).write(to: caFile)
        var simConfiguration = APNsSimulator.Configuration(certificateChainPEM: credentials.certificateChainPEM, keyPEM: credentials.keyPEM,
                                                           clientCAPEM: store.identity.root.pemBytes, recordPushes: false)
        simConfiguration.onPush = { push in
            let at = PushLatencyBench.now()
            arrivals.withLock { if push.token == deskToken { $0.desk.append(at) } else { $0.others += 1 } }
        }
        let sim = try await APNsSimulator.start(simConfiguration)
        let apns = HTTPClient(configuration: .init(caFile: caFile.path))
        let jobs = JobQueue(database: database)
        var logger = Logger(label: "bench")
        // The server's own shutdown logs a cancelled child channel that means nothing here.
        logger.logLevel = .critical
        let services = Services(tenants: tenants, templates: templates, cards: Cards(database: database, templates: templates, tenants: tenants, publicURL: "http://127.0.0.1"),
                                jobs: jobs, logger: logger, rateLimits: .some(nil))
        _ = try await services.programs.change(tenant: tenant, mode: .live, document: try Self.object(#"{"currency":"EUR","earnRules":[{"paymentMethods":["cash"],"percent":10}]}"#),
                                               actor: nil)
        let worker = PushWorker(jobs: jobs, tenants: tenants, client: apns, configuration: .init(apnsURL: "https://127.0.0.1:\(sim.port)"), logger: logger)
        var configuration = try ServerConfiguration.resolve(listen: "127.0.0.1:0", environment: [:])
        configuration.publicSourceBurst = 1_000_000
        configuration.publicSourcePerSecond = 1_000_000
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = buildApplication(services: services, configuration: configuration, logger: logger) { continuation.yield($0) }
        let serving = Task { try await app.run() }
        let pushing = Task { await worker.run() }
        let campaigning = Task { await services.campaigns.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ValidationError("the server did not start") }
        let base = "http://127.0.0.1:\(port)"

        // One front-desk account, signed in as a browser would be.
        let invitation = try await services.staff.invite(tenant: tenant, email: "desk@bench.example", role: .frontdesk, by: .operator)
        let signedIn = try await services.staff.accept(token: String(invitation.link.split(separator: "/").last!), password: "bench desk password", name: nil)
        let cookie = "passline_session=\(signedIn.cookie)", csrf = signedIn.session.csrfToken
        let client = HTTPClient()

        func send(_ method: String, _ path: String, form: String? = nil, expect: Int) async throws -> HTTPResponse {
            var headers = [(name: "Cookie", value: cookie)]
            if form != nil { headers.append((name: "Content-Type", value: "application/x-www-form-urlencoded")) }
            let response = try await client.send(HTTPRequest(method: method, url: base + path, headers: headers, body: Array((form ?? "").utf8)))
            guard response.status == expect else {
                throw ValidationError("\(method) \(path) answered \(response.status), not \(expect): \(String(decoding: response.body.prefix(300), as: UTF8.self))")
            }
            return response
        }

        var served = 0
        func measure() async throws -> Phase {
            var desk: [Double] = [], push: [Double] = [], steps: [String: [Double]] = [:]
            func timed<R>(_ step: String, _ body: () async throws -> R) async throws -> R {
                let start = PushLatencyBench.now()
                let result = try await body()
                steps[step, default: []].append(Double(PushLatencyBench.now() - start) / 1000)
                return result
            }
            for _ in 0..<purchases {
                served += 1
                let before = arrivals.withLock { $0.desk.count }
                let scanned = PushLatencyBench.now()
                let found = try await timed("scan") { try await send("GET", "/app/desk/find?code=M-DESK", expect: 303) }
                _ = try await timed("member") { try await send("GET", found.header("location") ?? "/app/members/DESK", expect: 200) }
                // The push can reach the phone before the page does: both count from the tap on Confirm.
                let tapped = PushLatencyBench.now()
                let confirmed = try await timed("confirm") {
                    try await send("POST", "/app/members/DESK/purchase", form: "_csrf=\(csrf)&amount=12.00&paymentMethod=cash&nonce=bench\(served)&confirm=1", expect: 303)
                }
                _ = try await timed("confirmation") { try await send("GET", confirmed.header("location") ?? "/app/members/DESK", expect: 200) }
                desk.append(Double(PushLatencyBench.now() - scanned) / 1000)
                let deadline = PushLatencyBench.now() + 30_000_000
                while arrivals.withLock({ $0.desk.count }) == before {
                    guard PushLatencyBench.now() < deadline else { throw ValidationError("a push took more than 30 s; see the job table's errors.") }
                    try await Task.sleep(for: .microseconds(200))
                }
                push.append(Double(arrivals.withLock { $0.desk[before] } - tapped) / 1000)
            }
            return Phase(desk: PushLatencyBench.percentiles(desk), push: PushLatencyBench.percentiles(push),
                         steps: steps.mapValues(PushLatencyBench.percentiles))
        }

        Console.error("idle: \(purchases) customers, one after another…")
        let idle = try await measure()
        Console.error("during a campaign to \(campaignDevices) devices…")
        let campaign = try await services.campaigns.start(tenant: tenant, mode: .live, template: "campaign", change: .init())
        while arrivals.withLock({ $0.others }) < min(2_000, campaignDevices / 2) { try await Task.sleep(for: .milliseconds(5)) }
        let during = try await measure()
        let status = try await services.campaigns.status(tenant: tenant, id: campaign.id)
        if status.campaign.state == "finished" && arrivals.withLock({ $0.others }) >= campaignDevices {
            Console.error("warning: the campaign finished before the measurement did; use more --campaign-devices.")
        }
        for task in [pushing, campaigning] { task.cancel() }
        serving.cancel()
        await pushing.value
        await campaigning.value
        _ = await serving.result
        client.shutdown()
        apns.shutdown()
        await sim.stop()

        let result = Result(purchases: purchases, campaignDevices: campaignDevices, idle: idle, duringCampaign: during)
        for (name, phase) in [("idle", idle), ("during campaign", during)] {
            Console.error(String(format: "%@: scan to confirmation page p50 %.1f ms, p99 %.1f ms; Confirm to the push at the phone p50 %.1f ms, p99 %.1f ms",
                                 name, phase.desk.p50, phase.desk.p99, phase.push.p50, phase.push.p99))
            Console.error("  " + ["scan", "member", "confirm", "confirmation"].compactMap { step in
                phase.steps[step].map { String(format: "%@ p50 %.1f / p99 %.1f ms", step, $0.p50, $0.p99) }
            }.joined(separator: ", "))
        }
        if json { try Console.printJSONLine(result) }
    }

    static func object(_ text: String) throws -> JSONObject {
        guard let object = try JSONParser.parse(text).objectValue else { throw ValidationError("not an object") }
        return object
    }
}
