import CCurl
import Foundation
import Synchronization

/// A client certificate and its key, PEM, handed to TLS from memory (no file on disk).
/// Requests with the same identity share connections; each identity gets its own.
public struct ClientIdentity: Sendable, Hashable {
    public let certificatePEM: [UInt8]
    public let keyPEM: [UInt8]
    /// Hashed once here: every request looks its pool up by identity, and hashing kilobytes of
    /// PEM a byte at a time per request was a twentieth of a fan-out's CPU.
    private let digest: Int

    public init(certificatePEM: [UInt8], keyPEM: [UInt8]) {
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
        var hasher = Hasher()
        hasher.combine(certificatePEM)
        hasher.combine(keyPEM)
        self.digest = hasher.finalize()
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(digest) }

    public static func == (a: Self, b: Self) -> Bool {
        a.digest == b.digest && a.certificatePEM == b.certificatePEM && a.keyPEM == b.keyPEM
    }
}

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    /// A header with an empty value is not sent, and neither is the one libcurl would add by
    /// that name (`accept`, a POST's `content-type`).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// From when the request has a connection (and a stream) and is sent, to the end of its
    /// answer. Waiting for a connection is bounded by the client's `connectTimeoutMilliseconds`
    /// and this together; waiting behind other requests for a stream is not counted.
    public var timeoutMilliseconds: Int
    public var identity: ClientIdentity?
    /// Asked with the IP address of the connection the request is about to go out on (a new
    /// or a reused one); false aborts it unsent. Where the address is known only at connect
    /// time, this is the check that a name resolving elsewhere later cannot slip past.
    public var acceptPeer: (@Sendable (String) -> Bool)?
    /// The most of the answer's body kept; the rest is read and dropped.
    public var maxResponseBytes: Int?

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                timeoutMilliseconds: Int = 30_000, identity: ClientIdentity? = nil,
                acceptPeer: (@Sendable (String) -> Bool)? = nil, maxResponseBytes: Int? = nil) {
        self.method = method; self.url = url; self.headers = headers; self.body = body
        self.timeoutMilliseconds = timeoutMilliseconds; self.identity = identity
        self.acceptPeer = acceptPeer; self.maxResponseBytes = maxResponseBytes
    }
}

public struct HTTPResponse: Sendable {
    public let status: Int
    /// Names lowercased, as HTTP/2 sends them.
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]
    /// 2 for HTTP/2, 1 for HTTP/1.x.
    public let httpVersion: Int
    /// From the hand-over to the client until the request had a connection and was sent.
    public var waitedMilliseconds: Int = 0

    init(status: Int, headers: [(name: String, value: String)], body: [UInt8], httpVersion: Int, waitedMilliseconds: Int = 0) {
        self.status = status; self.headers = headers; self.body = body; self.httpVersion = httpVersion
        self.waitedMilliseconds = waitedMilliseconds
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }
}

/// Why a request got no answer. `connection` and `timeout` are worth a retry; `tls` and
/// `invalidRequest` are configuration to fix.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable { case connection, timeout, tls, invalidRequest, shutdown }
    public let code: Code
    public let message: String
    /// Whether the request had gone out on a connection when it failed: when not, the server
    /// cannot have acted on it.
    public let sent: Bool
    /// From the hand-over to the client until the request was sent, or until it failed unsent.
    public let waitedMilliseconds: Int
    public var description: String { message }
    public init(code: Code, message: String, sent: Bool = false, waitedMilliseconds: Int = 0) {
        self.code = code; self.message = message; self.sent = sent; self.waitedMilliseconds = waitedMilliseconds
    }
}

/// The project's one outbound HTTP client: libcurl's multi interface on a thread of its own,
/// HTTP/2 over TLS with many concurrent streams on each connection, connections kept and reused
/// (one set per client certificate), and callers that `await` their answers.
///
/// Back-pressure: at most `maxInFlight` requests are inside libcurl at once; further callers
/// wait their turn instead of queueing without bound.
public final class HTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// A PEM file of extra certificate authorities to trust (a local stand-in's).
        public var caFile: String?
        public var maxInFlight: Int
        /// Streams per connection we open at most; servers may allow fewer, and libcurl obeys them.
        public var maxConcurrentStreams: Int
        public var connectTimeoutMilliseconds: Int
        /// Connections a loop keeps to one host.
        /// Transfers beyond what those connections can start wait in the client's own queue
        /// (see `Origin`), and their timeouts do not run meanwhile.
        public var connectionsPerHost: Int
        /// libcurl loops (each a thread with its own multi handle and connections) a client
        /// certificate may use. One loop's thread tops out well below what a fan-out needs
        /// (libcurl's own work a request; BENCHMARKS.md, "Pushes"): a fan-out spreads over more
        /// loops, while a trickle of single requests stays on one.
        public var loopsPerIdentity: Int
        public init(caFile: String? = nil, maxInFlight: Int = 2_000, maxConcurrentStreams: Int = 1_000, connectTimeoutMilliseconds: Int = 10_000,
                    connectionsPerHost: Int = 2, loopsPerIdentity: Int = min(ProcessInfo.processInfo.activeProcessorCount, 4)) {
            self.caFile = caFile; self.maxInFlight = maxInFlight; self.connectionsPerHost = connectionsPerHost
            self.maxConcurrentStreams = maxConcurrentStreams; self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
            self.loopsPerIdentity = max(1, loopsPerIdentity)
        }
    }

    public let configuration: Configuration
    /// One pool a client certificate, each of `loopsPerIdentity` multi handles on threads of
    /// their own: libcurl limits connections per host, not per certificate, so tenants must not
    /// share a loop.
    private let pools = Mutex<[ClientIdentity?: [CurlLoop]]>([:])
    private let slots: AsyncSlots

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.slots = AsyncSlots(count: configuration.maxInFlight)
    }

    private func loops(for identity: ClientIdentity?) -> [CurlLoop] {
        pools.withLock { pools in
            if let loops = pools[identity] { return loops }
            let loops = (0..<configuration.loopsPerIdentity).map { _ in CurlLoop(configuration: configuration, identity: identity) }
            pools[identity] = loops
            return loops
        }
    }

    /// The loop with the fewest requests in flight; the first among equals, so that a trickle
    /// of requests keeps to one loop (and one thread, and one connection).
    private static func leastBusy(_ loops: [CurlLoop]) -> CurlLoop {
        var best = loops[0], load = best.inFlight.load(ordering: .relaxed)
        for loop in loops.dropFirst() {
            let other = loop.inFlight.load(ordering: .relaxed)
            if other < load { best = loop; load = other }
        }
        return best
    }

    /// A batch smaller than this goes to one loop whole: spreading it would only wake threads.
    private static let spreadThreshold = 64

    /// Sends one request and waits for its whole answer.
    /// - Throws: `HTTPClientError` when no answer came (an HTTP error status is an answer).
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await slots.acquire()
        defer { slots.release() }
        return try await withCheckedThrowingContinuation { continuation in
            Self.leastBusy(loops(for: request.identity)).submit([Transfer(request: request) { continuation.resume(with: $0) }])
        }
    }

    /// Sends many requests at once and waits for all their answers, in the order of `requests`.
    ///
    /// For fan-outs: the requests go to libcurl together (one hand-over, one wake-up of its
    /// thread) and the caller waits once, instead of a task and a continuation per request.
    /// At most `maxInFlight` are in libcurl at a time; a longer list goes in parts.
    public func send(all requests: [HTTPRequest]) async -> [Result<HTTPResponse, HTTPClientError>] {
        var results: [Result<HTTPResponse, HTTPClientError>] = []
        results.reserveCapacity(requests.count)
        var start = 0
        while start < requests.count {
            let part = requests[start..<min(start + configuration.maxInFlight, requests.count)]
            start = part.endIndex
            do { try await slots.acquire(part.count) } catch {
                let failure = HTTPClientError(code: .shutdown, message: "The HTTP client was shut down.")
                results += Array(repeating: .failure(failure), count: requests.count - results.count)
                break
            }
            results += await withCheckedContinuation { continuation in
                let batch = BatchResults(count: part.count, continuation: continuation)
                var byIdentity: [ClientIdentity?: [Transfer]] = [:]
                for (offset, request) in part.enumerated() {
                    byIdentity[request.identity, default: []].append(Transfer(request: request) { batch.set(offset, $0) })
                }
                for (identity, transfers) in byIdentity {
                    let loops = loops(for: identity)
                    guard loops.count > 1, transfers.count >= Self.spreadThreshold else {
                        Self.leastBusy(loops).submit(transfers)
                        continue
                    }
                    // Even shares, one hand-over each: every loop's thread works on the batch.
                    let share = (transfers.count + loops.count - 1) / loops.count
                    for (index, loop) in loops.enumerated() where index * share < transfers.count {
                        loop.submit(Array(transfers[(index * share)..<min((index + 1) * share, transfers.count)]))
                    }
                }
            }
            slots.release(part.count)
        }
        return results
    }

    /// Retires a client certificate's pool (the tenant's certificate was replaced): new requests
    /// with it get a fresh pool; the old one's connections and thread go once the requests on
    /// it have had `graceMilliseconds` to finish.
    public func retire(_ identity: ClientIdentity, graceMilliseconds: Int = 60_000) {
        guard let loops = pools.withLock({ $0.removeValue(forKey: identity) }) else { return }
        // stop() waits for the loop's thread: not on the cooperative pool.
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(graceMilliseconds)) { for loop in loops { loop.stop() } }
    }

    /// Client certificates with a pool (and threads) of their own right now.
    public var poolCount: Int { pools.withLock { $0.count } }

    /// What the client's loops have done so far: requests answered or failed, and how many
    /// loops have started a thread (named `passline-curl`).
    public struct Statistics: Sendable {
        public var requests: Int
        public var loopsStarted: Int
        /// Requests taken out of libcurl's own queue and handed in again (see `CurlLoop.sweep`).
        public var readmitted: Int
    }

    public var statistics: Statistics {
        let loops = pools.withLock { $0.values.flatMap { $0 } }
        return Statistics(requests: loops.reduce(0) { $0 + $1.completed.load(ordering: .relaxed) },
                          loopsStarted: loops.filter(\.hasStarted).count,
                          readmitted: loops.reduce(0) { $0 + $1.readmitted.load(ordering: .relaxed) })
    }

    /// Stops the loop: transfers still running fail with `.shutdown`.
    public func shutdown() {
        slots.close()
        for loop in pools.withLock({ $0.values.flatMap { $0 } }) { loop.stop() }
    }

    deinit { for loop in pools.withLock({ $0.values.flatMap { $0 } }) { loop.stop() } }
}

/// The answers of one `send(all:)` part, handed to its caller when the last one is in.
private final class BatchResults: Sendable {
    private struct State {
        var results: [Result<HTTPResponse, HTTPClientError>?]
        var remaining: Int
    }
    private let state: Mutex<State>
    private let continuation: CheckedContinuation<[Result<HTTPResponse, HTTPClientError>], Never>

    init(count: Int, continuation: CheckedContinuation<[Result<HTTPResponse, HTTPClientError>], Never>) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
        self.continuation = continuation
    }

    func set(_ index: Int, _ result: Result<HTTPResponse, HTTPClientError>) {
        let done = state.withLock { state -> [Result<HTTPResponse, HTTPClientError>]? in
            guard state.results[index] == nil else { return nil }
            state.results[index] = result
            state.remaining -= 1
            return state.remaining == 0 ? state.results.map { $0! } : nil
        }
        if let done { continuation.resume(returning: done) }
    }
}

/// A counting semaphore for async callers. Waiters are served in order, each with as many
/// permits as it asked for.
final class AsyncSlots: Sendable {
    private struct State {
        var available: Int
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var closed = false
    }
    private let state: Mutex<State>
    private let capacity: Int

    init(count: Int) {
        state = Mutex(State(available: count))
        capacity = count
    }

    /// Waits for `count` permits (at most the semaphore's size).
    func acquire(_ count: Int = 1) async throws {
        let count = min(count, capacity)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let result: Result<Void, any Error>? = state.withLock { state in
                if state.closed { return .failure(HTTPClientError(code: .shutdown, message: "The HTTP client was shut down.")) }
                if state.waiters.isEmpty && state.available >= count { state.available -= count; return .success(()) }
                state.waiters.append((count, continuation))
                return nil
            }
            if let result { continuation.resume(with: result) }
        }
    }

    func release(_ count: Int = 1) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.available += min(count, capacity)
            var ready: [CheckedContinuation<Void, any Error>] = []
            while let first = state.waiters.first, first.count <= state.available {
                state.available -= first.count
                ready.append(state.waiters.removeFirst().continuation)
            }
            return ready
        }
        for waiter in ready { waiter.resume() }
    }

    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(throwing: HTTPClientError(code: .shutdown, message: "The HTTP client was shut down.")) }
    }
}
