import Foundation
import Logging
import LoyaltyRules
import ServiceLifecycle
import PasslineHTTPClient
import PasslineJSON
import PasslineService
import PasslineSQL
import PasslineStore
import Synchronization

/// Sends the `apns.push` jobs that card changes enqueue: one `POST /3/device/{token}` per job,
/// authenticated with the tenant's Pass Type ID certificate, and acts on APNs' answer as Apple
/// documents it (see `APNsOutcome`). Jobs are claimed in batches and sent concurrently over the
/// HTTP/2 client's multiplexed connections; a crash leaves the leases to run out and the jobs
/// to be claimed again, so no push is lost.
public final class PushWorker: Sendable {
    public struct Configuration: Sendable {
        /// `https://api.push.apple.com` unless PASSLINE_APNS_URL says otherwise.
        public var apnsURL: String
        public var batchSize: Int
        /// How long APNs keeps the push for a device that is off: pass updates are still worth
        /// having days later, and APNs keeps only the newest push per topic anyway.
        public var expirationSeconds: Int
        public var requestTimeoutMilliseconds: Int
        /// A 429 for a token: wait this long before trying it again.
        public var throttleMilliseconds: Int64
        /// How long a claimed batch is this worker's. A batch settles within the request timeout,
        /// so twice that is safe; after a crash its pushes go out again once it runs out.
        public var leaseMilliseconds: Int64
        /// Batches in progress at once: while one is on the wire, another is claimed or settled.
        /// With two, both were at times in the store while libcurl's threads waited: three kept
        /// 1.6 cores of 2 busy instead of 1.4, for 15% more pushes a second.
        public var lanes: Int
        /// One more lane that takes only single cards' pushes, in small batches, so a customer's
        /// change never waits for a campaign's batch to finish on the wire.
        public var interactiveBatchSize: Int
        public init(apnsURL: String = "https://api.push.apple.com", batchSize: Int = 800, expirationSeconds: Int = 7 * 86_400,
                    requestTimeoutMilliseconds: Int = 15_000, throttleMilliseconds: Int64 = 60_000, leaseMilliseconds: Int64 = 30_000,
                    lanes: Int = 3, interactiveBatchSize: Int = 100) {
            var url = apnsURL
            while url.hasSuffix("/") { url.removeLast() }
            self.apnsURL = url; self.batchSize = batchSize; self.expirationSeconds = expirationSeconds
            self.requestTimeoutMilliseconds = requestTimeoutMilliseconds; self.throttleMilliseconds = throttleMilliseconds
            self.leaseMilliseconds = leaseMilliseconds
            self.lanes = max(1, lanes)
            self.interactiveBatchSize = interactiveBatchSize
        }
    }

    public let jobs: JobQueue
    public let tenants: Tenants
    public let client: HTTPClient
    public let configuration: Configuration
    private let logger: Logger
    private let signing: SigningIdentities
    /// Renews the leases of batches on the wire, from a thread of its own.
    public let leases: JobLeaseKeeper
    /// Client identities made from signing identities, by tenant, with the stamp they came from.
    private let identities = Mutex<[String: (stamp: Int64, identity: ClientIdentity)]>([:])

    public init(jobs: JobQueue, tenants: Tenants, client: HTTPClient, configuration: Configuration, signing: SigningIdentities? = nil,
                logger: Logger) {
        self.jobs = jobs
        self.tenants = tenants
        self.signing = signing ?? SigningIdentities(tenants: tenants)
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.leases = JobLeaseKeeper(queue: jobs) { problem in logger.error("push batch lease not kept", metadata: ["error.message": "\(problem)"]) }
    }

    /// Claims and sends until the task is cancelled, in `lanes` concurrent loops and one for single changes.
    public func run() async {
        await withGracefulShutdownHandler {
            await runLanes()
        } onGracefulShutdown: {
            // Waiting lanes look again, see the shutdown, and end; a lane with a batch on the
            // wire finishes and settles it first.
            self.jobs.notifyCommitted()
        }
    }

    private func runLanes() async {
        await withTaskGroup(of: Void.self) { group in
            for lane in 0...configuration.lanes {
                let interactive = lane == configuration.lanes
                group.addTask {
                    // The bulk lanes' store work gives way to requests and to the lane for single changes.
                    await SQLWorkPriority.$current.withValue(interactive ? .interactive : .background) {
                        while !WorkerLoop.isStopping {
                            do {
                                let seen = self.jobs.workSignals
                                let handled = interactive ? try await self.runOnce(limit: self.configuration.interactiveBatchSize, atLeast: .interactive)
                                                          : try await self.runOnce()
                                if handled == 0 { await self.jobs.waitForWork(since: seen, timeoutMilliseconds: 1000) }
                            } catch {
                                self.logger.error("push batch failed", metadata: ["worker.name": "push", "error.message": "\(error)"])
                                try? await Task.sleep(for: .seconds(1))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs the lanes until no job is due: what a benchmark measures.
    public func drain() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<configuration.lanes {
                group.addTask { while try await self.runOnce() > 0 {} }
            }
            try await group.waitForAll()
        }
    }

    /// One batch: claims what is due, sends it, records the outcomes.
    /// - Returns: how many jobs it handled.
    @discardableResult
    public func runOnce(limit: Int? = nil, atLeast: JobPriority? = nil) async throws -> Int {
        let claimed = try await jobs.claim(limit: limit ?? configuration.batchSize, kinds: [PushJob.kind], skipPausedTenants: true,
                                           atLeast: atLeast, leaseMilliseconds: configuration.leaseMilliseconds)
        guard !claimed.isEmpty else { return 0 }
        // Each tenant's certificate is looked up once a batch, not once a push: a cold cache
        // hit by 2,000 concurrent pushes would unseal the same key 2,000 times.
        var identities: [String: Swift.Result<(Int64, ClientIdentity), any Error>] = [:]
        for tenant in Set(claimed.compactMap(\.tenant)) {
            do { identities[tenant] = .success(try await identity(tenant: tenant)) } catch { identities[tenant] = .failure(error) }
        }
        // Jobs that need no request are decided here; the rest go to the client as one batch.
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(claimed.count)
        var waiting: [(job: ClaimedJob, push: Push)] = []
        var requests: [HTTPRequest] = []
        let expiration = String(Int(Date().timeIntervalSince1970) + configuration.expirationSeconds)
        for job in claimed {
            switch prepare(job, identities: identities, expiration: expiration) {
            case .decided(let outcome): outcomes.append(outcome)
            case .send(let push, let request):
                waiting.append((job, push))
                requests.append(request)
            }
        }
        if !requests.isEmpty {
            // The batch's lease is renewed while it is on the wire: a batch that outlived its
            // lease on a starved machine was claimed again and sent twice.
            let hold = leases.hold(claimed, lease: configuration.leaseMilliseconds)
            let responses = await client.send(all: requests)
            leases.release(hold)
            for ((job, push), response) in zip(waiting, responses) {
                switch response {
                case .success(let response):
                    outcomes.append((job, push, .answered(APNsOutcome.classify(status: response.status, body: response.body, apnsID: response.header("apns-id")))))
                case .failure(let error):
                    outcomes.append((job, push, .transport(error)))
                }
            }
        }
        try await settle(outcomes)
        return claimed.count
    }

    struct Push: Sendable {
        let tenant: String, token: String, passType: String
        /// The campaign that caused it, for delivery tracking.
        var campaign: String?
        /// The stamp of the signing identity the push went out with.
        var identityStamp: Int64 = 0
    }
    typealias Outcome = (ClaimedJob, Push?, Result)

    enum Result: Sendable {
        case answered(APNsOutcome)
        case transport(HTTPClientError)
        case unusable(String)
        /// A test-mode card's push: recorded as sent, never sent.
        case testMode
    }

    private enum Prepared {
        case decided(Outcome)
        case send(Push, HTTPRequest)
    }

    /// What a job needs: a request to APNs, or an outcome without one (a test-mode card, a
    /// payload or token that cannot be sent).
    private func prepare(_ job: ClaimedJob, identities: [String: Swift.Result<(Int64, ClientIdentity), any Error>], expiration: String) -> Prepared {
        let pushJob: PushJob
        do { pushJob = try PushJob(payload: job.payload) } catch { return .decided((job, nil, .unusable("\(error)"))) }
        let (tenant, token, passType) = (pushJob.tenant, pushJob.pushToken, pushJob.passType)
        var push = Push(tenant: tenant, token: token, passType: passType, campaign: pushJob.campaign)
        if !ChangeConsequences.reachesDevices(pushJob.mode) { return .decided((job, push, .testMode)) }
        let identity: ClientIdentity
        do {
            guard let found = identities[tenant] else { throw DomainError(.notFound, "the job's tenant \(tenant) is not the tenant it was queued for") }
            (push.identityStamp, identity) = try found.get()
        } catch {
            return .decided((job, push, .unusable("the tenant's signing identity cannot be used: \(error)")))
        }
        // The token came from a device: it must not be able to change the request's path.
        guard !token.isEmpty, token.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }) else {
            return .decided((job, push, .answered(.removeRegistration(reason: "BadDeviceToken (not sent: the token is not hexadecimal)"))))
        }
        return .send(push, APNsRequest.make(apnsURL: configuration.apnsURL, token: token, passType: passType, expiration: expiration,
                                            timeoutMilliseconds: configuration.requestTimeoutMilliseconds, identity: identity))
    }

    private func identity(tenant: String) async throws -> (Int64, ClientIdentity) {
        let entry = try await signing.entry(tenant: tenant)
        let cached = identities.withLock { $0[tenant] }
        if let cached, cached.stamp == entry.stamp { return cached }
        // A replaced certificate's connections and thread are not needed any more.
        if let cached { client.retire(cached.identity) }
        let identity = try APNsRequest.clientIdentity(entry.identity)
        identities.withLock { $0[tenant] = (entry.stamp, identity) }
        return (entry.stamp, identity)
    }

    /// Forgets a tenant's cached certificate (after it was replaced in this process).
    public func forgetIdentity(tenant: String) {
        signing.invalidate(tenant: tenant)
        if let old = identities.withLock({ $0.removeValue(forKey: tenant) }) { client.retire(old.identity) }
    }

    private func settle(_ results: [Outcome]) async throws {
        var delivered: [ClaimedJob] = []
        var deliveries: [Pushes.Delivery] = []
        let database = jobs.database
        func note(_ push: Push?, _ job: ClaimedJob, _ outcome: PushOutcome, apnsID: String? = nil, reason: String? = nil) {
            guard let push else { return }
            deliveries.append(.init(tenant: push.tenant, pushToken: push.token, passType: push.passType, outcome: outcome,
                                    apnsID: apnsID, reason: reason, attempt: job.attempt, campaign: push.campaign))
        }
        for (job, push, result) in results {
            switch result {
            case .answered(.delivered(let apnsID)):
                delivered.append(job)
                note(push, job, .delivered, apnsID: apnsID)
            case .answered(.removeRegistration(let reason)):
                if let push {
                    try await database.withConnection { try Pushes.removeRegistrations(tenant: push.tenant, pushToken: push.token, passType: push.passType, registeredBefore: nil, on: $0) }
                }
                delivered.append(job)
                note(push, job, .removed, reason: reason)
            case .answered(.unregistered(let since)):
                if let push {
                    try await database.withConnection { try Pushes.removeRegistrations(tenant: push.tenant, pushToken: push.token, passType: push.passType, registeredBefore: since, on: $0) }
                }
                delivered.append(job)
                note(push, job, .unregistered, reason: "Unregistered")
            case .answered(.deadLetter(let reason)):
                logger.error("APNs refused a push for good; this is a bug or a configuration error", metadata: ["apns.reason": .string(reason), "job.id": .stringConvertible(job.id)])
                try await jobs.fail(job, error: "APNs: \(reason)", retry: false)
                note(push, job, .dead, reason: reason)
            case .answered(.pauseTenant(let reason)):
                if let push {
                    forgetIdentity(tenant: push.tenant)
                    // A certificate replaced while this push was on the wire is not the one refused: try again with the new one.
                    if try await signing.stamp(tenant: push.tenant) == push.identityStamp {
                        logger.error("pausing the tenant's pushes", metadata: ["tenant.id": .string(push.tenant), "apns.reason": .string(reason)])
                        try await database.withConnection {
                            try Pushes.pause(tenant: push.tenant, reason: reason, now: WallClock.milliseconds(), on: $0)
                        }
                    }
                }
                try await jobs.release(job, afterMilliseconds: 0)
                note(push, job, .paused, reason: reason)
            case .answered(.throttled(let reason)):
                try await jobs.fail(job, error: "APNs: 429 \(reason)", retryAfterMilliseconds: configuration.throttleMilliseconds * Int64(job.attempt))
                note(push, job, .throttled, reason: reason)
            case .answered(.retry(let reason)):
                let state = try await jobs.fail(job, error: "APNs: \(reason)")
                note(push, job, state == "dead" ? .failed : .retrying, reason: reason)
            case .transport(let error):
                let state = try await jobs.fail(job, error: "no answer from APNs: \(error.message)")
                note(push, job, state == "dead" ? .failed : .retrying, reason: error.message)
            case .testMode:
                delivered.append(job)
                note(push, job, .delivered, reason: "test mode: recorded as sent, not sent to APNs")
            case .unusable(let reason):
                try await jobs.fail(job, error: reason, retry: false)
                note(push, job, .dead, reason: reason)
            }
        }
        // The batch's successes and its delivery rows go in one commit.
        let (completed, recorded, jobs) = (delivered, deliveries, self.jobs)
        guard !completed.isEmpty || !recorded.isEmpty else { return }
        let now = WallClock.milliseconds()
        try await database.transaction { connection in
            try jobs.complete(completed, now: now, on: connection)
            try Pushes.record(recorded, now: now, on: connection)
        }
    }
}

/// One of the process's services: it runs until a graceful shutdown, then settles its batches.
extension PushWorker: Service {}
