import CCurl
import CThreadName
import Foundation
import Synchronization

/// One request inside libcurl and what has arrived so far. Touched only by the loop's thread
/// once submitted.
final class Transfer: @unchecked Sendable {
    let request: HTTPRequest
    /// Called once, on the loop's thread, with the answer or why there is none.
    let complete: @Sendable (Result<HTTPResponse, HTTPClientError>) -> Void
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []
    var easy: EasyHandle?
    var headerList: UnsafeMutablePointer<curl_slist>?
    /// Monotonic nanoseconds: handed to the client; given to libcurl; last given to libcurl
    /// again (see `CurlLoop.sweep`); given a connection and sent (0 until then, and again
    /// after that connection closed under it).
    let submittedAt: UInt64
    var admittedAt: UInt64 = 0
    var readmittedAt: UInt64 = 0
    var startedAt: UInt64 = 0
    /// The local port of the connection it was sent on: how a closing socket finds its transfers.
    var localPort: Int32 = -1
    var origin: Origin?
    /// The peer address `request.acceptPeer` refused.
    var refusedPeer: String?

    init(request: HTTPRequest, complete: @escaping @Sendable (Result<HTTPResponse, HTTPClientError>) -> Void) {
        self.request = request
        self.complete = complete
        self.submittedAt = DispatchTime.now().uptimeNanoseconds
    }

    deinit { if let headerList { curl_slist_free_all(headerList) } }
}

/// An easy handle with the options every request of its pool shares (TLS identity, CA,
/// timeouts, callbacks) already set. Handles are reused: setting a client certificate and key
/// copies kilobytes of PEM, and a new handle allocates its buffers again.
final class EasyHandle {
    let handle: UnsafeMutableRawPointer
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    init(handle: UnsafeMutableRawPointer) {
        self.handle = handle
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }
}

/// The transfers of one loop to one scheme, host and port, where libcurl keeps its connection
/// limits and its own queue.
///
/// Why the loop queues transfers itself: libcurl (7.88) parks a transfer that finds no usable
/// connection (the connection is still in its TLS handshake and PIPEWAIT waits for it to
/// multiplex, or the host's connection limit is reached) on a pending list, and takes *one*
/// transfer off that list each time another transfer finishes. A fan-out handed over before
/// its connection was up therefore went out one request per answer, and on a busy machine the
/// last ones waited out their timeout with nothing sent. So only as many transfers go into
/// libcurl as its connections can start: one until the origin has answered (it opens the
/// connection), then up to `connectionsPerHost × maxConcurrentStreams` over HTTP/2, or
/// `connectionsPerHost` over HTTP/1.
final class Origin {
    enum Kind { case unknown, multiplexed, serial }
    var waiting: [Transfer] = []
    var head = 0
    var admitted = 0
    var kind = Kind.unknown
    /// When a transfer of this origin last got a connection: proof that one is up.
    var lastStartedAt: UInt64 = 0

    var hasWaiting: Bool { head < waiting.count }

    func limit(_ configuration: HTTPClient.Configuration) -> Int {
        switch kind {
        case .unknown: 1
        case .multiplexed: configuration.connectionsPerHost * configuration.maxConcurrentStreams
        case .serial: configuration.connectionsPerHost
        }
    }

    func next() -> Transfer? {
        guard head < waiting.count else { return nil }
        let transfer = waiting[head]
        head += 1
        if head == waiting.count { waiting.removeAll(keepingCapacity: true); head = 0 }
        return transfer
    }

    func drain() -> ArraySlice<Transfer> {
        defer { waiting.removeAll(keepingCapacity: true); head = 0 }
        return waiting[head...]
    }

    /// `scheme://host:port` of a URL: what libcurl's limits are counted by.
    static func key(of url: String) -> Substring {
        guard let scheme = url.range(of: "://") else { return Substring(url) }
        let rest = url[scheme.upperBound...]
        return url[..<(rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? url.endIndex)]
    }
}

/// libcurl's multi handle and the thread that drives it. libcurl handles are not thread-safe:
/// everything but `submit`, `stop` and `curl_multi_wakeup` happens on that thread.
final class CurlLoop: @unchecked Sendable {
    private struct Inbox {
        var pending: [Transfer] = []
        var stopped = false
    }
    private let inbox = Mutex(Inbox())
    private let multi: UnsafeMutableRawPointer
    private let configuration: HTTPClient.Configuration
    private let identity: ClientIdentity?
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    /// Handles between requests; only the loop's thread touches them.
    private var idle: [EasyHandle] = []
    /// libcurl's open sockets, learnt from its open and close callbacks (on the loop's thread).
    private var sockets: Set<Int32> = []
    /// Transfers handed over and not yet answered: how busy the loop is, for spreading work.
    let inFlight = Atomic<Int>(0)
    /// Transfers answered (or failed) so far.
    let completed = Atomic<Int>(0)

    private static let globalInit: Void = { curl_global_init(Int(PASSLINE_CURL_GLOBAL_DEFAULT)) }()

    /// - Parameter identity: the client certificate every request of this pool presents.
    init(configuration: HTTPClient.Configuration, identity: ClientIdentity?) {
        _ = Self.globalInit
        self.configuration = configuration
        self.identity = identity
        multi = curl_multi_init()
        passline_curl_multi_setopt_long(multi, PASSLINE_CURLMOPT_PIPELINING, PASSLINE_CURLPIPE_MULTIPLEX)
        passline_curl_multi_setopt_long(multi, PASSLINE_CURLMOPT_MAX_CONCURRENT_STREAMS, configuration.maxConcurrentStreams)
        passline_curl_multi_setopt_long(multi, PASSLINE_CURLMOPT_MAX_HOST_CONNECTIONS, configuration.connectionsPerHost)
    }

    /// Hands transfers to the loop: one lock and one wake-up for all of them.
    func submit(_ transfers: [Transfer]) {
        inFlight.add(transfers.count, ordering: .relaxed)
        let accepted = inbox.withLock { inbox -> Bool in
            guard !inbox.stopped else { return false }
            inbox.pending.append(contentsOf: transfers)
            return true
        }
        guard accepted else {
            inFlight.subtract(transfers.count, ordering: .relaxed)
            for transfer in transfers { transfer.complete(.failure(HTTPClientError(code: .shutdown, message: "The HTTP client was shut down."))) }
            return
        }
        if !started.exchange(true, ordering: .acquiringAndReleasing) {
            Thread { [self] in run() }.start()
        }
        curl_multi_wakeup(multi)
    }

    var hasStarted: Bool { started.load(ordering: .relaxed) }

    func stop() {
        let wasRunning = inbox.withLock { inbox -> Bool in
            defer { inbox.stopped = true }
            return !inbox.stopped
        }
        guard wasRunning else { return }
        if started.load(ordering: .acquiring) {
            curl_multi_wakeup(multi)
            finished.wait()
        } else {
            curl_multi_cleanup(multi)
        }
    }

    // Thread-confined state of the loop's thread.
    private var active: [ObjectIdentifier: Transfer] = [:]
    private var origins: [Substring: Origin] = [:]
    private var lastSweep: UInt64 = 0
    private var lastOrigin: (key: String, origin: Origin)?
    /// Transfers put back into libcurl because they sat in its pending list (see `sweep`).
    let readmitted = Atomic<Int>(0)

    /// How long a transfer may sit in libcurl without a connection, while others of its origin
    /// get one, before it is handed to libcurl again.
    static let readmitAfter: UInt64 = 100_000_000
    /// How often the loop looks for transfers past their timeout or stuck in libcurl's queue.
    static let sweepEvery: UInt64 = 50_000_000

    private func run() {
        // `top -H`, perf and the push benchmark tell libcurl's threads from the rest by it.
        passline_name_this_thread("passline-curl")
        var done: [(handle: UnsafeMutableRawPointer, code: CURLcode)] = []
        while true {
            let (pending, stopped) = inbox.withLock { inbox in
                defer { inbox.pending.removeAll(keepingCapacity: true) }
                return (inbox.pending, inbox.stopped)
            }
            if stopped {
                let queued = origins.values.flatMap { $0.drain() }
                for transfer in pending + queued + active.values {
                    if let easy = transfer.easy { curl_multi_remove_handle(multi, easy.handle) }
                    transfer.easy = nil
                    transfer.complete(.failure(HTTPClientError(code: .shutdown, message: "The HTTP client was shut down.")))
                }
                active.removeAll()
                origins.removeAll()
                lastOrigin = nil
                idle.removeAll()
                curl_multi_cleanup(multi)
                finished.signal()
                return
            }
            for transfer in pending {
                // A batch goes to one origin as a rule: the last one is tried before any parsing.
                let origin: Origin
                if let last = lastOrigin, transfer.request.url.utf8.starts(with: last.key.utf8),
                   transfer.request.url.utf8.dropFirst(last.key.utf8.count).first.map({ $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }) ?? true {
                    origin = last.origin
                } else {
                    let key = Origin.key(of: transfer.request.url)
                    if let known = origins[key] { origin = known } else { origin = Origin(); origins[key] = origin }
                    lastOrigin = (String(key), origin)
                }
                transfer.origin = origin
                origin.waiting.append(transfer)
            }
            admit()
            // libcurl writes each HTTP/2 frame of each stream with a send of its own: three
            // small TLS records a push. Corked for the round, they leave as full segments when
            // it ends, so the TCP stack (on loopback also the receiver's) runs once a segment,
            // not once a frame. Nothing waits longer than the round that wrote it.
            for socket in sockets { _ = passline_tcp_cork(socket, 1) }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            for socket in sockets { _ = passline_tcp_cork(socket, 0) }
            // Every message is read before any handle is removed: curl_multi_remove_handle walks
            // the unread messages, so removing as they are read costs the square of a round's
            // finished transfers (15% of this thread at 300 a round).
            var remaining: Int32 = 0
            done.removeAll(keepingCapacity: true)
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
                done.append((handle, message.pointee.data.result))
            }
            for (handle, code) in done {
                var pointer: UnsafeMutableRawPointer?
                passline_curl_easy_getinfo_pointer(handle, PASSLINE_CURLINFO_PRIVATE, &pointer)
                curl_multi_remove_handle(multi, handle)
                guard let pointer else { continue }
                let transfer = Unmanaged<Transfer>.fromOpaque(pointer).takeUnretainedValue()
                let result = outcome(of: transfer, code: code)
                release(transfer)
                if case .failure(let error) = result, let origin = transfer.origin, origin.kind == .unknown,
                   error.code == .connection || error.code == .tls || error.code == .timeout {
                    // The origin's first connection failed: what waits behind it would only wait
                    // a connect timeout each, one after another, to fail the same way.
                    for waiting in origin.drain() {
                        finishUnsent(waiting, .failure(HTTPClientError(code: error.code, message: "\(waiting.request.method) \(waiting.request.url): not sent, the connection failed: \(error.message)")))
                    }
                }
                transfer.complete(result)
            }
            let now = DispatchTime.now().uptimeNanoseconds
            if !done.isEmpty { admit(now: now) }
            if !active.isEmpty, now &- lastSweep >= Self.sweepEvery {
                lastSweep = now
                sweep(now: now)
            }
            // While transfers are in flight, never sleep long: libcurl (7.88) sometimes has
            // work for a transfer without a socket event or a timer to say so, and batches
            // stalled for the whole wait (1 s) until this cap.
            var descriptors: Int32 = 0
            curl_multi_poll(multi, nil, 0, active.isEmpty ? 1000 : 10, &descriptors)
        }
    }

    /// Hands waiting transfers to libcurl, as many as each origin's connections can start.
    private func admit(now: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        for origin in origins.values where origin.hasWaiting {
            let limit = origin.limit(configuration)
            while origin.admitted < limit, let transfer = origin.next() {
                do {
                    let easy = try configure(transfer)
                    transfer.easy = easy
                    transfer.admittedAt = now
                    transfer.readmittedAt = now
                    origin.admitted += 1
                    active[ObjectIdentifier(transfer)] = transfer
                    curl_multi_add_handle(multi, easy.handle)
                } catch let error as HTTPClientError {
                    finishUnsent(transfer, .failure(error))
                } catch {
                    finishUnsent(transfer, .failure(HTTPClientError(code: .invalidRequest, message: "\(error)")))
                }
            }
        }
    }

    /// A transfer that never went into libcurl (or left it unsent) gets its answer.
    private func finishUnsent(_ transfer: Transfer, _ result: Result<HTTPResponse, HTTPClientError>) {
        inFlight.subtract(1, ordering: .relaxed)
        completed.add(1, ordering: .relaxed)
        transfer.complete(result)
    }

    /// Takes a finished (or abandoned) transfer's handle back from libcurl's side of the books;
    /// the handle must already be out of the multi handle.
    private func release(_ transfer: Transfer) {
        active[ObjectIdentifier(transfer)] = nil
        transfer.origin?.admitted -= 1
        inFlight.subtract(1, ordering: .relaxed)
        completed.add(1, ordering: .relaxed)
        if let easy = transfer.easy {
            transfer.easy = nil
            easy.errorBuffer[0] = 0
            if idle.count < configuration.maxConcurrentStreams { idle.append(easy) }
        }
    }

    /// Timeouts, and transfers stuck in libcurl's pending list.
    ///
    /// A request's timeout counts from when it had a connection and was sent, not from when it
    /// was handed over: time spent waiting for a stream is the client's, not the server's.
    /// One that waits for a connection longer than the connect timeout and its own timeout
    /// together fails as timed out, saying it was never sent.
    ///
    /// libcurl still parks transfers of its own accord (those it retries on a new connection
    /// after a GOAWAY refused their stream, while that connection is being made), and releases
    /// them one per finished transfer. One that has waited `readmitAfter` while another transfer
    /// of its origin got a connection is taken out and handed in again: it then finds the
    /// connection that is up. Nothing of it was sent, so nothing goes twice.
    private func sweep(now: UInt64) {
        var expired: [(Transfer, HTTPClientError)] = []
        var stuck: [Transfer] = []
        let connectTimeout = UInt64(configuration.connectTimeoutMilliseconds) * 1_000_000
        for transfer in active.values {
            let timeout = UInt64(max(0, transfer.request.timeoutMilliseconds)) * 1_000_000
            if transfer.startedAt != 0 {
                if now &- transfer.startedAt > timeout {
                    let waited = (now &- transfer.startedAt) / 1_000_000
                    expired.append((transfer, HTTPClientError(code: .timeout, message: "\(transfer.request.method) \(transfer.request.url): no answer \(waited) ms after it was sent (\(transfer.body.count) bytes received)")))
                }
            } else if now &- transfer.admittedAt > connectTimeout + timeout {
                let waited = (now &- transfer.admittedAt) / 1_000_000
                expired.append((transfer, HTTPClientError(code: .timeout, message: "\(transfer.request.method) \(transfer.request.url): not sent, no connection in \(waited) ms")))
            } else if now &- transfer.readmittedAt >= Self.readmitAfter, let origin = transfer.origin, origin.lastStartedAt > transfer.readmittedAt {
                stuck.append(transfer)
            }
        }
        for (transfer, error) in expired {
            if let easy = transfer.easy { curl_multi_remove_handle(multi, easy.handle) }
            release(transfer)
            transfer.complete(.failure(error))
        }
        for transfer in stuck {
            guard let easy = transfer.easy else { continue }
            curl_multi_remove_handle(multi, easy.handle)
            curl_multi_add_handle(multi, easy.handle)
            transfer.readmittedAt = now
            readmitted.add(1, ordering: .relaxed)
        }
    }

    private func outcome(of transfer: Transfer, code: CURLcode) -> Result<HTTPResponse, HTTPClientError> {
        guard let easy = transfer.easy else { return .failure(HTTPClientError(code: .connection, message: "\(transfer.request.url): no handle")) }
        let waited = Int(((transfer.startedAt == 0 ? DispatchTime.now().uptimeNanoseconds : transfer.startedAt) &- transfer.submittedAt) / 1_000_000)
        if let refused = transfer.refusedPeer {
            return .failure(HTTPClientError(code: .connection, message: "\(transfer.request.method) \(transfer.request.url): not sent, its address \(refused) is not one this request may reach",
                                            sent: false, waitedMilliseconds: waited))
        }
        guard code == CURLE_OK else {
            let detail = String(cString: easy.errorBuffer)
            let message = "\(transfer.request.method) \(transfer.request.url): \(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)"
            let kind: HTTPClientError.Code
            switch code {
            case CURLE_OPERATION_TIMEDOUT: kind = .timeout
            case CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CLIENTCERT:
                kind = .tls
            case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT: kind = .invalidRequest
            default: kind = .connection
            }
            return .failure(HTTPClientError(code: kind, message: message, sent: transfer.startedAt != 0, waitedMilliseconds: waited))
        }
        var status = 0, version = 0
        passline_curl_easy_getinfo_long(easy.handle, PASSLINE_CURLINFO_RESPONSE_CODE, &status)
        passline_curl_easy_getinfo_long(easy.handle, PASSLINE_CURLINFO_HTTP_VERSION, &version)
        let http2 = version == CURL_HTTP_VERSION_2_0
        if let origin = transfer.origin { origin.kind = http2 ? .multiplexed : .serial }
        return .success(HTTPResponse(status: status, headers: transfer.headers, body: transfer.body, httpVersion: http2 ? 2 : 1,
                                     waitedMilliseconds: waited))
    }

    /// A handle of this pool's, new or reused, with the pool's options.
    private func takeHandle() throws -> EasyHandle {
        if let easy = idle.popLast() { return easy }
        guard let handle = curl_easy_init() else { throw HTTPClientError(code: .invalidRequest, message: "libcurl could not make a handle.") }
        let easy = EasyHandle(handle: handle)
        func check(_ code: CURLcode, _ what: String) throws {
            guard code == CURLE_OK else {
                throw HTTPClientError(code: .invalidRequest, message: "\(what): \(String(cString: curl_easy_strerror(code)))")
            }
        }
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_ERRORBUFFER, easy.errorBuffer)
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_NOSIGNAL, 1)
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_HTTP_VERSION, PASSLINE_CURL_HTTP_VERSION_2TLS)
        // Wait for a connection that can take another stream rather than opening a new one.
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_PIPEWAIT, 1)
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_CONNECTTIMEOUT_MS, configuration.connectTimeoutMilliseconds)
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_TCP_KEEPALIVE, 1)
        // A connection idle longer than this is not trusted to still be there; a fresh one is made.
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_MAXAGE_CONN, 300)
        try check(passline_curl_easy_setopt_sockets(handle, Self.onSocketOpened, Self.onSocketClosing, Unmanaged.passUnretained(self).toOpaque()), "the socket callbacks")
        try check(passline_curl_easy_setopt_prereq(handle, Self.onStart, nil), "the start callback")
        passline_curl_easy_setopt_write(handle, Self.onBody)
        passline_curl_easy_setopt_header(handle, Self.onHeader)
        if let caFile = configuration.caFile { try check(passline_curl_easy_setopt_string(handle, PASSLINE_CURLOPT_CAINFO, caFile), "the CA file") }
        if let identity {
            var certificate = identity.certificatePEM, key = identity.keyPEM
            try check(passline_curl_easy_setopt_string(handle, PASSLINE_CURLOPT_SSLCERTTYPE, "PEM"), "the certificate type")
            try check(certificate.withUnsafeMutableBytes { passline_curl_easy_setopt_blob(handle, PASSLINE_CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count) }, "the client certificate")
            try check(passline_curl_easy_setopt_string(handle, PASSLINE_CURLOPT_SSLKEYTYPE, "PEM"), "the key type")
            try check(key.withUnsafeMutableBytes { passline_curl_easy_setopt_blob(handle, PASSLINE_CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count) }, "the client key")
        }
        return easy
    }

    /// Sets what differs between requests on a pool's handle. Every such option is set each
    /// time, so nothing of a handle's previous request carries over.
    private func configure(_ transfer: Transfer) throws -> EasyHandle {
        let easy = try takeHandle()
        let handle = easy.handle
        let request = transfer.request
        func check(_ code: CURLcode, _ what: String) throws {
            guard code == CURLE_OK else {
                idle.append(easy)
                throw HTTPClientError(code: .invalidRequest, message: "\(request.url): \(what): \(String(cString: curl_easy_strerror(code)))")
            }
        }
        try check(passline_curl_easy_setopt_string(handle, PASSLINE_CURLOPT_URL, request.url), "the URL")
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_PRIVATE, context)
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_WRITEDATA, context)
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_HEADERDATA, context)
        // The request's timeout is the loop's to keep (`sweep`): libcurl's would count the time
        // spent waiting for a connection or a stream too.
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_TIMEOUT_MS, 0)
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_PREREQDATA, context)
        transfer.startedAt = 0
        var list: UnsafeMutablePointer<curl_slist>?
        for header in request.headers { list = curl_slist_append(list, "\(header.name): \(header.value)") }
        // libcurl adds "Expect: 100-continue" to larger bodies over HTTP/1.1; nothing here wants it.
        list = curl_slist_append(list, "Expect:")
        transfer.headerList = list
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))
        // Back to a plain GET first: it clears a previous request's body and method.
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_HTTPGET, 1)
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_CUSTOMREQUEST, nil)
        if request.method != "GET" {
            if !request.body.isEmpty || request.method == "POST" {
                passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_POSTFIELDSIZE, request.body.count)
                try request.body.withUnsafeBytes { bytes in
                    // COPYPOSTFIELDS copies now: the request's array need not outlive this call.
                    try check(passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)), "the body")
                }
            }
            if request.method != "POST" { try check(passline_curl_easy_setopt_string(handle, PASSLINE_CURLOPT_CUSTOMREQUEST, request.method), "the method") }
        }
        return easy
    }

    // The loop outlives its handles (they are cleaned up before `curl_multi_cleanup`), so the
    // unretained context is valid whenever libcurl calls these, always on the loop's thread.
    private static let onSocketOpened: @convention(c) (UnsafeMutableRawPointer?, curl_socket_t, curlsocktype) -> Int32 = { context, socket, _ in
        guard let context else { return 0 }
        Unmanaged<CurlLoop>.fromOpaque(context).takeUnretainedValue().sockets.insert(socket)
        return 0  // CURL_SOCKOPT_OK
    }

    private static let onSocketClosing: @convention(c) (UnsafeMutableRawPointer?, curl_socket_t) -> Int32 = { context, socket in
        if let context {
            let loop = Unmanaged<CurlLoop>.fromOpaque(context).takeUnretainedValue()
            loop.sockets.remove(socket)
            // A transfer still on this connection either fails in this round or is one libcurl
            // sends again elsewhere (a stream the server refused): it waits for a connection
            // again, and its timeout with it.
            let port = passline_local_port(socket)
            if port >= 0 {
                for transfer in loop.active.values where transfer.startedAt != 0 && transfer.localPort == port {
                    transfer.startedAt = 0
                    transfer.readmittedAt = DispatchTime.now().uptimeNanoseconds
                }
            }
        }
        return passline_close(socket)
    }

    private static let onStart: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<CChar>?, Int32, Int32) -> Int32 = { context, peer, _, _, localPort in
        guard let context else { return 0 }
        let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
        if let accept = transfer.request.acceptPeer {
            let address = peer.map { String(cString: $0) } ?? ""
            guard accept(address) else {
                transfer.refusedPeer = address
                return 1  // CURL_PREREQFUNC_ABORT
            }
        }
        let now = DispatchTime.now().uptimeNanoseconds
        transfer.startedAt = now
        transfer.localPort = localPort
        transfer.origin?.lastStartedAt = now
        return 0  // CURL_PREREQFUNC_OK
    }

    private static let onBody: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, context in
        guard let data, let context else { return 0 }
        let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
        let length = size * count
        let kept = min(length, max(0, (transfer.request.maxResponseBytes ?? .max) - transfer.body.count))
        if kept > 0 {
            data.withMemoryRebound(to: UInt8.self, capacity: length) { transfer.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: kept)) }
        }
        return length
    }

    private static let onHeader: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, context in
        guard let data, let context else { return 0 }
        let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
        let length = size * count
        data.withMemoryRebound(to: UInt8.self, capacity: length) { start in
            let line = UnsafeBufferPointer(start: start, count: length)
            if line.starts(with: "HTTP/".utf8) {
                transfer.headers.removeAll()  // a new response (after a redirect or 100): start over
            } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
                var from = colon + 1, to = length
                while from < to, isSpace(line[from]) { from += 1 }
                while to > from, isSpace(line[to - 1]) { to -= 1 }
                let name = String(decoding: UnsafeBufferPointer(rebasing: line[..<colon]), as: UTF8.self).lowercased()
                transfer.headers.append((name, String(decoding: UnsafeBufferPointer(rebasing: line[from..<to]), as: UTF8.self)))
            }
        }
        return length
    }
}
