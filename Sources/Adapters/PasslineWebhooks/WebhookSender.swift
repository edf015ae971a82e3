import Foundation
import Logging
import LoyaltyRules
import PasslineHTTPClient
import PasslineJSON
import PasslineService
import PasslineSQL
import PasslineStore
import ServiceLifecycle
import Synchronization

/// Delivers the `webhook.deliver` jobs that changes enqueue with their events: one signed POST
/// per event and endpoint, at least once. A delivery is held in flight on its own, so a slow
/// endpoint (up to the 10 s timeout) holds only its own deliveries, never another tenant's;
/// each endpoint has at most `perEndpoint` in flight.
public final class WebhookSender: Sendable {
    let webhooks: Webhooks
    let jobs: JobQueue
    let client: HTTPClient
    let logger: Logger
    let capacity: Int
    let perEndpoint: Int
    /// Deliveries in flight per endpoint.
    private let inFlight = InFlight()

    public static let timeoutMilliseconds = 10_000
    /// What is kept of an endpoint's answer for the delivery log.
    public static let excerptBytes = 1_024
    /// An endpoint whose deliveries have all failed this long is disabled.
    public static let disableAfterMilliseconds: Int64 = 5 * 86_400_000

    public init(webhooks: Webhooks, jobs: JobQueue, client: HTTPClient, capacity: Int = 128, perEndpoint: Int = 8, logger: Logger) {
        self.webhooks = webhooks
        self.jobs = jobs
        self.client = client
        self.capacity = capacity
        self.perEndpoint = perEndpoint
        self.logger = logger
    }

    private var database: any SQLDatabase { webhooks.database }

    /// After attempt n fails, the wait before n + 1, about three days in all (Svix's and
    /// Stripe's schedules are of this shape); each ±10% so that failures at one moment do not
    /// come back together.
    public static let retrySchedule: [Int64] = [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 72_000].map { $0 * 1_000 }

    public static func retryDelay(afterAttempt attempt: Int, jitter: Double = Double.random(in: -0.1...0.1)) -> Int64 {
        let base = retrySchedule[min(max(attempt, 1), retrySchedule.count) - 1]
        return base + Int64(Double(base) * jitter)
    }

    /// Claims and delivers until the task is cancelled or the process shuts down.
    public func run() async {
        await SQLWorkPriority.$current.withValue(.background) {
            await withTaskGroup(of: Bool.self) { group in
                var running = 0
                var ticking = false
                while !WorkerLoop.isStopping {
                    let seen = jobs.workSignals
                    var claimed: [ClaimedJob] = []
                    if running < capacity {
                        do {
                            claimed = try await jobs.claim(limit: capacity - running, kinds: [WebhookDeliveryJob.kind], skipSuspendedTenants: true, leaseMilliseconds: 60_000)
                        } catch {
                            logger.error("webhook claim failed", metadata: ["error.message": .string("\(error)")])
                            try? await Task.sleep(for: .seconds(1))
                        }
                    }
                    for job in claimed {
                        running += 1
                        group.addTask { await self.deliver(job); return true }
                    }
                    if running == 0 {
                        await jobs.waitForWork(since: seen, timeoutMilliseconds: 1000)
                        continue
                    }
                    // Wait for a delivery to finish or for a short tick, whichever comes first, so
                    // that new work is claimed while slow deliveries are still out.
                    if !ticking {
                        ticking = true
                        group.addTask { try? await Task.sleep(for: .milliseconds(claimed.isEmpty ? 200 : 20)); return false }
                    }
                    if let finished = await group.next() {
                        if finished { running -= 1 } else { ticking = false }
                    }
                }
                group.cancelAll()
            }
        }
    }

    /// Delivers one claimed job to the end: sent, or given back with its backoff, or failed.
    public func deliver(_ job: ClaimedJob) async {
        do {
            try await attempt(job)
        } catch {
            logger.warning("webhook delivery failed", metadata: ["job.id": .stringConvertible(job.id), "error.message": .string("\(error)")])
            _ = try? await jobs.fail(job, error: "\(error)", retryAfterMilliseconds: Self.retryDelay(afterAttempt: job.attempt))
        }
    }

    private func attempt(_ job: ClaimedJob) async throws {
        let target: WebhookDeliveryJob
        do { target = try WebhookDeliveryJob(payload: job.payload) } catch {
            _ = try await jobs.fail(job, error: "\(error)", retry: false)
            return
        }
        let (endpoint, event) = try await database.withConnection { connection in
            (try WebhookEndpoints.get(target.endpoint, tenant: target.tenant, mode: nil, on: connection),
             try Events.get(target.event, tenant: target.tenant, on: connection))
        }
        // Deleted or disabled since: nothing to send, nothing to retry.
        guard let endpoint, endpoint.disabledAt == nil, let event else {
            try await jobs.complete(job)
            return
        }
        guard inFlight.enter(endpoint.id, limit: perEndpoint) else {
            try await jobs.release(job, afterMilliseconds: 500)
            return
        }
        defer { inFlight.leave(endpoint.id) }

        let body = Self.body(event)
        let timestamp = WallClock.milliseconds() / 1_000
        let signature = try StandardWebhooks.signature(id: event.id, timestamp: timestamp, body: body, secrets: try webhooks.signingSecrets(endpoint))
        let addresses = webhooks.addresses
        let request = HTTPRequest(method: "POST", url: endpoint.url, headers: [
            ("content-type", "application/json"), ("user-agent", "Passline-Webhooks/1"), ("webhook-id", event.id),
            ("webhook-timestamp", String(timestamp)), ("webhook-signature", signature),
        ], body: body, timeoutMilliseconds: Self.timeoutMilliseconds, acceptPeer: { addresses.allows($0) }, maxResponseBytes: Self.excerptBytes)
        let started = DispatchTime.now().uptimeNanoseconds
        var status: Int?
        var failure: String?
        var excerpt = ""
        do {
            let response = try await client.send(request)
            status = response.status
            excerpt = String(decoding: response.body.prefix(Self.excerptBytes), as: UTF8.self)
            if !(200..<300).contains(response.status) { failure = "the endpoint answered \(response.status)" }
        } catch let error as HTTPClientError {
            failure = error.message
        }
        let latency = Int64((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000)
        let failed = failure
        let now = WallClock.milliseconds()
        let last = job.attempt >= job.maxAttempts
        let outcome = failed == nil ? "delivered" : last ? "failed" : "retrying"
        let record = WebhookAttempts.Attempt(eventID: event.id, attempt: Int64(job.attempt), outcome: outcome, status: status.map(Int64.init),
                                             latencyMilliseconds: latency, error: failed, responseExcerpt: excerpt, at: now)
        let disabled = try await database.transaction { connection -> Bool in
            try WebhookAttempts.record(record, tenant: endpoint.tenant, endpoint: endpoint.id, on: connection)
            let failingSince = try WebhookEndpoints.recordOutcome(endpoint.id, tenant: endpoint.tenant, succeeded: failed == nil, now: now, on: connection)
            guard let failingSince, now - failingSince >= Self.disableAfterMilliseconds,
                  var current = try WebhookEndpoints.get(endpoint.id, tenant: endpoint.tenant, mode: nil, on: connection), current.disabledAt == nil else {
                return false
            }
            current.disabledAt = now
            current.disabledReason = "every delivery failed for five days (the last: \(failed ?? "unknown"))"
            current.updatedAt = now
            try WebhookEndpoints.update(current, on: connection)
            // The tenant hears of it on its other endpoints, and the API shows the flag.
            try Events.emit(tenant: endpoint.tenant, mode: endpoint.mode, now: now, on: connection) {
                [DomainEvent(.endpointDisabled, JSONObject([("id", .string(endpoint.id)), ("url", .string(endpoint.url)),
                                                             ("reason", .string(current.disabledReason ?? ""))]))]
            }
            return true
        }
        if disabled {
            logger.warning("webhook endpoint disabled", metadata: ["tenant.id": .string(endpoint.tenant), "webhook.endpoint": .string(endpoint.id)])
        }
        if let failed {
            _ = try await jobs.fail(job, error: failed, retry: !last, retryAfterMilliseconds: Self.retryDelay(afterAttempt: job.attempt))
        } else {
            try await jobs.complete(job)
        }
    }

    /// `{"type", "timestamp", "data"}`, as Standard Webhooks lays a payload out.
    static func body(_ event: Events.Event) -> [UInt8] {
        let data = (try? JSONParser.parse(Array(event.data.utf8))) ?? .object(JSONObject())
        return JSONWriter.bytes(.object(JSONObject([
            ("id", .string(event.id)), ("type", .string(event.type)), ("timestamp", .string(Timestamp.format(event.createdAt))), ("data", data),
        ])))
    }
}

/// Deliveries in flight per endpoint, shared by the sender's tasks.
final class InFlight: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func enter(_ key: String, limit: Int) -> Bool {
        counts.withLock { counts in
            guard counts[key, default: 0] < limit else { return false }
            counts[key, default: 0] += 1
            return true
        }
    }

    func leave(_ key: String) {
        counts.withLock { counts in
            counts[key, default: 1] -= 1
            if counts[key] == 0 { counts[key] = nil }
        }
    }
}
extension WebhookSender: Service {}
