import Foundation
import Hummingbird
import Logging
import LoyaltyRules
import PasslineCrypto
import PasslineHTTPClient
import PasslineJSON
import PasslineServer
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import PasslineWebhooks
import PasslineZip
import Synchronization
import Testing

/// A partner's webhook receiver on loopback: it keeps what it was sent and answers each
/// request with the next status of its script (200 once the script is spent).
final class Receiver: Sendable {
    struct Delivery: Sendable {
        let id: String
        let timestamp: String
        let signature: String
        let body: [UInt8]
        var json: JSONObject? { (try? JSONParser.parse(body))?.objectValue }
    }
    private let state = Mutex<(deliveries: [Delivery], script: [Int])>(([], []))
    let task: Task<Void, any Error>
    let url: String

    private init(task: Task<Void, any Error>, url: String) {
        self.task = task
        self.url = url
    }

    static func start() async throws -> Receiver {
        let holder = Holder()
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let body = Array(buffer: try await request.body.collect(upTo: 1 << 20))
            let receiver = holder.receiver!
            let status = receiver.state.withLock { state -> Int in
                state.deliveries.append(Delivery(id: request.headers[.init("webhook-id")!] ?? "", timestamp: request.headers[.init("webhook-timestamp")!] ?? "",
                                                 signature: request.headers[.init("webhook-signature")!] ?? "", body: body))
                return state.script.isEmpty ? 200 : state.script.removeFirst()
            }
            return Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(string: "status \(status)")))
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "receiver"))
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next()!
        let receiver = Receiver(task: task, url: "http://127.0.0.1:\(port)/hook")
        holder.receiver = receiver
        return receiver
    }

    final class Holder: @unchecked Sendable { var receiver: Receiver? }

    func script(_ statuses: [Int]) { state.withLock { $0.script = statuses } }
    var deliveries: [Delivery] { state.withLock { $0.deliveries } }

    func wait(for count: Int, seconds: Double = 10) async throws -> [Delivery] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if deliveries.count >= count { return deliveries }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the receiver got \(deliveries.count) deliveries, not \(count)")
        return deliveries
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }
}

/// A store with a tenant, its template and a card; webhooks that may reach loopback; a sender.
struct WebhookHarness {
    let database: any SQLDatabase
    let tenant: String
    let cards: Cards
    let jobs: JobQueue
    let webhooks: Webhooks
    let client: HTTPClient
    let sender: WebhookSender
    let serial: String

    static func start(_ kind: TestDatabase, allowLoopback: Bool = true) async throws -> WebhookHarness {
        let database = try await kind.make()
        try await Migrator.migrate(database)
        let tenants = Tenants(database: database, secrets: try SecretBox(key: SecretBox.generateKey()))
        let tenant = try await tenants.create(name: "Lumen", identity: try TestSupport.identity.signingIdentity()).id
        let templates = Templates(database: database)
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        _ = try await templates.create(tenant: tenant, name: "loyalty", zip: try writer.finish())
        let cards = Cards(database: database, templates: templates, tenants: tenants, publicURL: "https://cards.example.com")
        let jobs = JobQueue(database: database)
        let webhooks = Webhooks(database: database, secrets: tenants.secrets, addresses: WebhookAddresses(allowLoopback: allowLoopback))
        let client = HTTPClient()
        let card = try await cards.create(tenant: tenant, mode: .live, .init(template: "loyalty", memberID: "M-1", memberName: "Ada", points: 100))
        return WebhookHarness(database: database, tenant: tenant, cards: cards, jobs: jobs, webhooks: webhooks, client: client,
                              sender: WebhookSender(webhooks: webhooks, jobs: jobs, client: client, logger: Logger(label: "test")), serial: card.serialNumber)
    }

    func transact(_ points: Int64, mode: CardMode = .live) async throws -> Cards.TransactionResult {
        try await cards.transact(.init(serial: serial, points: points, reason: points > 0 ? "visit" : "gift"), tenant: tenant, mode: mode, jobs: jobs) { _ in [] }
    }

    /// Runs every delivery due now (backoffs moved to now first), until none is left.
    func drain(rounds: Int = 20) async throws {
        for _ in 0..<rounds {
            try await database.withConnection { _ = try $0.execute("UPDATE jobs SET run_at = 0 WHERE state = 'ready' AND kind = 'webhook.deliver'", []) }
            let claimed = try await jobs.claim(limit: 100, kinds: [WebhookDeliveryJob.kind])
            if claimed.isEmpty { return }
            for job in claimed { await sender.deliver(job) }
        }
    }

    func stop() async {
        client.shutdown()
        await database.close()
    }
}

/// Verifies deliveries with the Standard Webhooks reference library (PyPI `standardwebhooks`):
/// an independent implementation must accept every signature.
func verifyWithStandardWebhooks(_ deliveries: [Receiver.Delivery], secret: String) throws -> String {
    let folder = TestSupport.temporaryFolder()
    let file = folder.appendingPathComponent("deliveries.jsonl")
    let lines = deliveries.map { delivery in
        JSONWriter.string(.object(JSONObject([("id", .string(delivery.id)), ("timestamp", .string(delivery.timestamp)),
                                              ("signature", .string(delivery.signature)), ("body", .string(String(decoding: delivery.body, as: UTF8.self)))])))
    }
    try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
    let script = """
        import json, sys
        from standardwebhooks.webhooks import Webhook
        hook = Webhook(sys.argv[1])
        for line in open(sys.argv[2]):
            r = json.loads(line)
            hook.verify(r["body"].encode(), {"webhook-id": r["id"], "webhook-timestamp": r["timestamp"], "webhook-signature": r["signature"]})
        print("verified")
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script, secret, file.path]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    process.waitUntilExit()
    return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Checks each delivered body against the OpenAPI document's schema for its type (its
/// `webhooks` entry), with the `jsonschema` package: what a partner generating types from the
/// document would expect is what is sent.
func validateAgainstOpenAPI(_ deliveries: [Receiver.Delivery]) throws -> String {
    let folder = TestSupport.temporaryFolder()
    let document = folder.appendingPathComponent("openapi.json"), bodies = folder.appendingPathComponent("bodies.jsonl")
    try Data(OpenAPIDocument.bytes).write(to: document)
    try deliveries.map { String(decoding: $0.body, as: UTF8.self) }.joined(separator: "\n").write(to: bodies, atomically: true, encoding: .utf8)
    let script = """
        import json, sys
        from jsonschema import Draft202012Validator
        document = json.load(open(sys.argv[1]))
        for line in open(sys.argv[2]):
            body = json.loads(line)
            hook = document["webhooks"][body["type"]]["post"]["requestBody"]["content"]["application/json"]["schema"]
            # The schema's references point into the document's components: resolve them there.
            schema = dict(hook, components=document["components"])
            errors = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
            if errors: print(body["type"], errors); sys.exit(1)
        print("valid")
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script, document.path, bodies.path]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    process.waitUntilExit()
    return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite("Webhooks: the outbox, signed deliveries, retries and the log")
struct WebhookTests {
    @Test("a change's events go out signed as Standard Webhooks says; the reference library accepts them; a rolled-back change sends nothing",
          arguments: TestDatabase.available)
    func signedDeliveries(kind: TestDatabase) async throws {
        let harness = try await WebhookHarness.start(kind)
        let receiver = try await Receiver.start()
        let (endpoint, secret) = try await harness.webhooks.create(tenant: harness.tenant, mode: .live,
                                                                   .init(url: receiver.url, events: ["transaction.created", "card.updated", "card.voided"]))
        #expect(secret.hasPrefix("whsec_") && endpoint.id.hasPrefix("we_"))
        // A test-mode endpoint hears nothing of live cards.
        let other = try await Receiver.start()
        _ = try await harness.webhooks.create(tenant: harness.tenant, mode: .test, .init(url: other.url, events: ["transaction.created"]))

        _ = try await harness.transact(25)
        // Refused (more than the balance): rolled back, so no event.
        await #expect(throws: DomainError.self) { try await harness.transact(-1_000) }
        _ = try await harness.cards.change(tenant: harness.tenant, mode: .live, serial: harness.serial, memberName: "Ada L.", fields: nil, voided: nil, jobs: harness.jobs)
        try await harness.drain()
        let deliveries = try await receiver.wait(for: 2)
        #expect(deliveries.count == 2 && other.deliveries.isEmpty)
        let first = try #require(deliveries.first?.json)
        #expect(first["type"] == .string("transaction.created") && first["id"]?.stringValue == deliveries[0].id)
        #expect(first["data"]?["transaction"]?["points"] == .int(25) && first["data"]?["transaction"]?["type"] == .string("earn"))
        #expect(first["data"]?["card"]?["points"] == .int(125))
        #expect(deliveries[1].json?["type"] == .string("card.updated") && deliveries[1].json?["data"]?["card"]?["memberName"] == .string("Ada L."))
        #expect(deliveries.allSatisfy { $0.signature.hasPrefix("v1,") && $0.id.hasPrefix("evt_") })
        #expect(try verifyWithStandardWebhooks(deliveries, secret: secret) == "verified")
        #expect(try verifyWithStandardWebhooks(deliveries, secret: "whsec_" + Data(SecureRandom.bytes(32)).base64EncodedString()) != "verified",
                "another secret does not verify")

        // A rotation: both secrets sign for the grace period; either verifies.
        let (_, rotated) = try await harness.webhooks.rotateSecret(tenant: harness.tenant, mode: .live, id: endpoint.id)
        _ = try await harness.transact(1)
        try await harness.drain()
        let after = Array(try await receiver.wait(for: 3).suffix(1))
        #expect(after[0].signature.split(separator: " ").count == 2)
        #expect(try verifyWithStandardWebhooks(after, secret: rotated) == "verified")
        #expect(try verifyWithStandardWebhooks(after, secret: secret) == "verified")
        let log = try await harness.webhooks.attempts(tenant: harness.tenant, mode: .live, id: endpoint.id, limit: 10)
        #expect(log.count == 3 && log.allSatisfy { $0.outcome == "delivered" && $0.status == 200 && $0.responseExcerpt == "status 200" })
        await receiver.stop()
        await other.stop()
        await harness.stop()
    }

    @Test("a failing endpoint is retried with backoff until it answers; the log shows each attempt; the last failure is final and can be replayed",
          arguments: TestDatabase.available)
    func retries(kind: TestDatabase) async throws {
        let harness = try await WebhookHarness.start(kind)
        let receiver = try await Receiver.start()
        let (endpoint, _) = try await harness.webhooks.create(tenant: harness.tenant, mode: .live, .init(url: receiver.url, events: ["transaction.created"]))
        receiver.script([500, 503])
        _ = try await harness.transact(5)
        try await harness.drain()
        let deliveries = try await receiver.wait(for: 3)
        #expect(Set(deliveries.map(\.id)).count == 1, "every attempt carries the event's id, so a receiver can drop repeats")
        var log = try await harness.webhooks.attempts(tenant: harness.tenant, mode: .live, id: endpoint.id, limit: 10)
        #expect(log.map(\.outcome) == ["delivered", "retrying", "retrying"] && log.map(\.status) == [200, 503, 500])
        #expect(try await harness.webhooks.get(tenant: harness.tenant, mode: .live, id: endpoint.id).failingSince == nil)
        // The schedule: 5 s, then minutes, then hours, about three days in all, each ±10%.
        #expect(WebhookSender.retryDelay(afterAttempt: 1, jitter: 0) == 5_000)
        #expect((WebhookSender.retrySchedule.reduce(0, +)) / 3_600_000 == 71)
        #expect((4_500...5_500).contains(WebhookSender.retryDelay(afterAttempt: 1)))

        // Every attempt failing: the last is final, and the endpoint is marked failing.
        receiver.script(Array(repeating: 500, count: WebhookDeliveryJob.maxAttempts))
        _ = try await harness.transact(6)
        try await harness.drain()
        log = try await harness.webhooks.attempts(tenant: harness.tenant, mode: .live, id: endpoint.id, limit: 100)
        #expect(log.first?.outcome == "failed" && log.filter { $0.outcome != "delivered" }.count == 2 + WebhookDeliveryJob.maxAttempts)
        #expect(try await harness.webhooks.get(tenant: harness.tenant, mode: .live, id: endpoint.id).failingSince != nil)
        // Replayed once it works again.
        let replayed = try await harness.webhooks.replayFailed(tenant: harness.tenant, mode: .live, id: endpoint.id, since: 0)
        #expect(replayed == 1)
        try await harness.drain()
        log = try await harness.webhooks.attempts(tenant: harness.tenant, mode: .live, id: endpoint.id, limit: 1)
        #expect(log.first?.outcome == "delivered")
        #expect(try await harness.webhooks.get(tenant: harness.tenant, mode: .live, id: endpoint.id).failingSince == nil)
        await receiver.stop()
        await harness.stop()
    }

    @Test("an address the operator has not allowed is refused when the URL is set and again at connect time")
    func addresses() async throws {
        let strict = WebhookAddresses(allowLoopback: false)
        for address in ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
                        "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::", "2001:db8::1", "not an address"] {
            #expect(!strict.allows(address), "\(address)")
        }
        for address in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] { #expect(strict.allows(address), "\(address)") }
        #expect(WebhookAddresses(allowLoopback: true).allows("127.0.0.1") && !WebhookAddresses(allowLoopback: true).allows("10.0.0.1"))
        #expect(await strict.fault(of: "http://8.8.8.8/hook") == "must be https")
        #expect(await strict.fault(of: "https://127.0.0.1/hook")?.contains("127.0.0.1") == true)
        #expect(await strict.fault(of: "https://localhost/hook") != nil)
        #expect(await strict.fault(of: "https://[::1]/hook") != nil)
        #expect(await strict.fault(of: "https://user:pw@8.8.8.8/hook") != nil)
        #expect(await strict.fault(of: "ftp://8.8.8.8/") != nil)
        #expect(await strict.fault(of: "not a url") != nil)
        #expect(await strict.fault(of: "https://8.8.8.8/hook") == nil)
        #expect(await WebhookAddresses(allowLoopback: true).fault(of: "http://127.0.0.1:9/hook") == nil)
        #expect(await WebhookAddresses(allowLoopback: true).fault(of: "http://8.8.8.8/hook") == "must be https")

        // An endpoint stored while loopback was allowed, sent by a sender that does not allow it:
        // refused at connect time, before a byte goes out.
        let harness = try await WebhookHarness.start(.sqlite)
        let receiver = try await Receiver.start()
        let (endpoint, _) = try await harness.webhooks.create(tenant: harness.tenant, mode: .live, .init(url: receiver.url, events: ["transaction.created"]))
        let closed = Webhooks(database: harness.database, secrets: harness.webhooks.secretsForTests, addresses: strict)
        let sender = WebhookSender(webhooks: closed, jobs: harness.jobs, client: harness.client, logger: Logger(label: "test"))
        _ = try await harness.transact(5)
        for job in try await harness.jobs.claim(limit: 10, kinds: [WebhookDeliveryJob.kind]) { await sender.deliver(job) }
        let log = try await harness.webhooks.attempts(tenant: harness.tenant, mode: .live, id: endpoint.id, limit: 1)
        #expect(log.first?.outcome == "retrying" && log.first?.error?.contains("not one this request may reach") == true, "\(log)")
        #expect(receiver.deliveries.isEmpty)
        await receiver.stop()
        await harness.stop()
    }

    @Test("the loyalty program's events: card.created, pass.installed and removed, points.expiring, reward.redeemed, card.voided, each in its change's transaction",
          arguments: TestDatabase.available)
    func programEvents(kind: TestDatabase) async throws {
        let harness = try await WebhookHarness.start(kind)
        let receiver = try await Receiver.start()
        let all = DomainEvent.Kind.allCases.map(\.rawValue)
        _ = try await harness.webhooks.create(tenant: harness.tenant, mode: .live, .init(url: receiver.url, events: all))
        let program = try #require(try JSONParser.parse(#"{"currency":"EUR","earnRules":[],"expiry":{"afterDays":90},"reminders":{"daysBefore":[28,7]},"quietHours":{"start":0,"end":1},"timeZone":"UTC","effectiveAt":"2000-01-01T00:00:00Z"}"#).objectValue)
        _ = try await harness.cards.programs.change(tenant: harness.tenant, mode: .live, document: program, actor: nil)
        let start = WallClock.milliseconds()
        let card = try await harness.cards.create(tenant: harness.tenant, mode: .live, .init(template: "loyalty", memberID: "M-2", memberName: "Bo", points: 300))
        let devices = WalletDevices(cards: harness.cards)
        #expect(try await devices.register(device: "device-1", pushToken: "token-1", for: card, passType: "pass.dev.passline"))
        try await devices.unregister(device: "device-1", from: card, passType: "pass.dev.passline")
        let scheduler = PointsScheduler(database: harness.database, programs: harness.cards.programs, jobs: harness.jobs, logger: Logger(label: "test"))
        #expect(try await scheduler.remindDue(now: start + 62 * Timestamp.millisecondsPerDay + 60_000) == 1)
        let rewards = RewardCatalogue(cards: harness.cards, jobs: harness.jobs)
        let reward = try await rewards.create(tenant: harness.tenant, mode: .live, document: try #require(try JSONParser.parse(#"{"name":"Facial","cost":250}"#).objectValue))
        _ = try await rewards.redeem(tenant: harness.tenant, mode: .live, serial: card.serialNumber, reward: "Facial", idempotencyKey: nil, requestHash: [],
                                     actor: nil, now: start + 63 * Timestamp.millisecondsPerDay) { _ in [] }
        _ = try await harness.cards.change(tenant: harness.tenant, mode: .live, serial: card.serialNumber, memberName: nil, fields: nil, voided: true, jobs: harness.jobs)
        try await harness.drain()
        let delivered = try await receiver.wait(for: 8)
        #expect(try validateAgainstOpenAPI(delivered) == "valid", "each payload is what the OpenAPI document's webhooks say")
        let events = delivered.compactMap(\.json)
        let types = events.compactMap { $0["type"]?.stringValue }
        #expect(types == ["card.created", "pass.installed", "pass.removed", "points.expiring", "card.updated", "transaction.created", "reward.redeemed", "card.voided"],
                "\(types)")
        func data(_ type: String) -> JSONValue? { events.first { $0["type"]?.stringValue == type }?["data"] }
        #expect(data("card.created")?["card"]?["points"] == .int(300) && data("card.created")?["card"]?["serialNumber"] == .string(card.serialNumber))
        #expect(data("pass.installed")?["devices"] == .int(1) && data("pass.removed")?["devices"] == .int(0))
        #expect(data("points.expiring")?["points"] == .int(300) && data("points.expiring")?["daysBefore"] == .int(28))
        #expect(data("points.expiring")?["text"]?.stringValue?.hasPrefix("300 points expire on ") == true)
        #expect(data("reward.redeemed")?["reward"] == .string(reward.id) && data("reward.redeemed")?["points"] == .int(50))
        #expect(data("transaction.created")?["transaction"]?["type"] == .string("redeem"))
        #expect(data("card.voided")?["card"]?["voided"] == .bool(true))
        await receiver.stop()
        await harness.stop()
    }
}
