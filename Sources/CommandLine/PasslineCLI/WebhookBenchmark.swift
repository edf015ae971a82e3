import ArgumentParser
import Foundation
import Hummingbird
import Logging
import LoyaltyRules
import PasslineCrypto
import PasslineHTTPClient
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineWebhooks
import Synchronization

struct WebhookBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks",
        abstract: "Events of many card changes delivered to a local webhook receiver, next to the receiver's bare rate in the same run.",
        discussion: "Commits --events points changes (one per card, 500 a transaction), each writing its transaction.created event to the outbox, while the webhook sender delivers them, signed, to a receiver on loopback. Reports events per second from the first commit to the last delivery and the commit-to-delivery latency, next to the rate at which the same HTTP client alone POSTs the same bodies to the receiver. SQLite in a temporary file; PostgreSQL in a throwaway schema of PASSLINE_DATABASE_URL (or --postgres) when given."
    )

    @Option(help: "Events (card changes).")
    var events: Int = 100_000

    @Option(help: "PostgreSQL to use (a libpq connection string or URL); default PASSLINE_DATABASE_URL when it names PostgreSQL.")
    var postgres: String?

    func validate() throws {
        guard (1...10_000_000).contains(events) else { throw ValidationError("--events must be 1 to 10,000,000.") }
    }

    func run() async throws {
        let receiver = try await BenchReceiver.start()
        defer { receiver.stop() }
        for (name, database, cleanup) in try await BenchStores.open(postgres: postgres) {
            let result = try await WebhookBenchmark(database: database, driver: name, events: events, receiver: receiver).run { Console.error($0) }
            await database.close()
            await cleanup()
            print("\(name): the receiver alone (the same client, the same bodies): \(Int(result.bareRate))/s")
            print("\(name): \(result.events) events delivered in \(String(format: "%.2f", result.seconds)) s, \(Int(result.rate))/s (\(String(format: "%.2f", result.rate / result.bareRate)) of the receiver's bare rate); commit to delivery p50 \(result.p50) ms, p99 \(result.p99) ms")
        }
    }
}

/// A webhook receiver on loopback that notes when each event id arrives.
final class BenchReceiver: Sendable {
    let url: String
    private let arrivals = Mutex<[String: Int64]>([:])
    private let task: Task<Void, any Error>

    private init(url: String, task: Task<Void, any Error>) {
        self.url = url
        self.task = task
    }

    static func start() async throws -> BenchReceiver {
        final class Holder: @unchecked Sendable { var receiver: BenchReceiver? }
        let holder = Holder()
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let id = request.headers[.init("webhook-id")!] ?? ""
            _ = try await request.body.collect(upTo: 1 << 20)
            if !id.isEmpty { holder.receiver?.arrivals.withLock { $0[id] = WallClock.milliseconds() } }
            return Response(status: .noContent)
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "bench-receiver"))
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        let receiver = BenchReceiver(url: "http://127.0.0.1:\(port)/hook", task: task)
        holder.receiver = receiver
        return receiver
    }

    var count: Int { arrivals.withLock { $0.count } }
    func arrivalTimes() -> [String: Int64] { arrivals.withLock { $0 } }
    func reset() { arrivals.withLock { $0.removeAll() } }
    func stop() { task.cancel() }
}

/// One driver's run of `bench webhooks`.
struct WebhookBenchmark: Sendable {
    struct Result: Sendable {
        let events: Int
        let seconds: Double
        let rate: Double
        let bareRate: Double
        let p50: Int64
        let p99: Int64
    }

    let database: any SQLDatabase
    let driver: String
    let events: Int
    let receiver: BenchReceiver

    func run(progress: @Sendable (String) -> Void) async throws -> Result {
        try await Migrator.migrate(database)
        let secrets = try SecretBox(key: SecretBox.generateKey())
        let webhooks = Webhooks(database: database, secrets: secrets, addresses: WebhookAddresses(allowLoopback: true))
        let count = events
        try await database.transaction { connection in
            try BenchCards.create(cards: count, points: 0, on: connection)
        }
        _ = try await webhooks.create(tenant: "bench", mode: .live, .init(url: receiver.url, events: ["transaction.created"]))

        let client = HTTPClient(configuration: .init(maxInFlight: 512, connectTimeoutMilliseconds: 5_000))
        defer { client.shutdown() }
        // The receiver's bare rate: the same client POSTs bodies of the events' size, 128 at a time.
        progress("\(driver): the receiver's bare rate")
        receiver.reset()
        let body = Array(#"{"id":"evt_0123456789abcdefghijklmn","type":"transaction.created","timestamp":"2027-01-01T00:00:00.000Z","data":{"transaction":{"id":1,"serialNumber":"S1","type":"earn","points":1,"balanceAfter":1,"reason":"bench","createdAt":"2027-01-01T00:00:00.000Z"},"card":{"serialNumber":"S1","points":1,"version":2}}}"#.utf8)
        let bareStart = ContinuousClock.now
        var sent = 0
        while sent < count {
            let batch = (sent..<min(count, sent + 1_024)).map { index in
                PasslineHTTPClient.HTTPRequest(method: "POST", url: receiver.url, headers: [("content-type", "application/json"), ("webhook-id", "bare-\(index)")], body: body)
            }
            _ = await client.send(all: batch)
            sent += batch.count
        }
        let bareRate = Double(count) / ExpiryBenchmark.seconds(since: bareStart)
        receiver.reset()

        progress("\(driver): \(count) changes committed while the sender delivers their events")
        let jobs = JobQueue(database: database, worker: "bench")
        let sender = WebhookSender(webhooks: webhooks, jobs: jobs, client: client, logger: Logger(label: "bench"))
        let sending = Task { await sender.run() }
        let start = ContinuousClock.now
        for first in stride(from: 0, to: count, by: 500) {
            let changes = (first..<min(count, first + 500)).map { index in
                Ledger.Change(serial: "S\(index)", points: 1, reason: "bench", amount: nil, actor: nil, idempotencyKey: nil, requestHash: [])
            }
            _ = try await database.transaction { connection in
                try Ledger.applyBatch(tenant: "bench", mode: .live, changes, now: WallClock.milliseconds(), answer: { _, _ in [] }, on: connection)
            }
            jobs.notifyCommitted()
        }
        let deadline = ContinuousClock.now + .seconds(600)
        while receiver.count < count && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let seconds = ExpiryBenchmark.seconds(since: start)
        sending.cancel()
        _ = await sending.value

        let arrivals = receiver.arrivalTimes()
        let created = try await database.withConnection { connection in
            try connection.query("SELECT id, created_at FROM events", []).map { (try $0.string("id"), try $0.int("created_at")) }
        }
        var latencies = created.compactMap { id, at in arrivals[id].map { $0 - at } }.sorted()
        if latencies.isEmpty { latencies = [0] }
        func percentile(_ p: Double) -> Int64 { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        return Result(events: arrivals.count, seconds: seconds, rate: Double(arrivals.count) / seconds, bareRate: bareRate, p50: percentile(0.5), p99: percentile(0.99))
    }
}
