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

    init(request: HTTPRequest, complete: @escaping @Sendable (Result<HTTPResponse, HTTPClientError>) -> Void) {
        self.request = request
        self.complete = complete
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

    private func run() {
        // `top -H`, perf and the push benchmark tell libcurl's threads from the rest by it.
        passline_name_this_thread("passline-curl")
        var active: [ObjectIdentifier: Transfer] = [:]
        var done: [(handle: UnsafeMutableRawPointer, code: CURLcode)] = []
        while true {
            let (pending, stopped) = inbox.withLock { inbox in
                defer { inbox.pending.removeAll(keepingCapacity: true) }
                return (inbox.pending, inbox.stopped)
            }
            if stopped {
                for transfer in pending + active.values {
                    if let easy = transfer.easy { curl_multi_remove_handle(multi, easy.handle) }
                    transfer.easy = nil
                    transfer.complete(.failure(HTTPClientError(code: .shutdown, message: "The HTTP client was shut down.")))
                }
                active.removeAll()
                idle.removeAll()
                curl_multi_cleanup(multi)
                finished.signal()
                return
            }
            for transfer in pending {
                do {
                    let easy = try configure(transfer)
                    transfer.easy = easy
                    curl_multi_add_handle(multi, easy.handle)
                    active[ObjectIdentifier(transfer)] = transfer
                } catch let error as HTTPClientError {
                    inFlight.subtract(1, ordering: .relaxed)
                    transfer.complete(.failure(error))
                } catch {
                    inFlight.subtract(1, ordering: .relaxed)
                    transfer.complete(.failure(HTTPClientError(code: .invalidRequest, message: "\(error)")))
                }
            }
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
            if !done.isEmpty {
                inFlight.subtract(done.count, ordering: .relaxed)
                completed.add(done.count, ordering: .relaxed)
            }
            for (handle, code) in done {
                var pointer: UnsafeMutableRawPointer?
                passline_curl_easy_getinfo_pointer(handle, PASSLINE_CURLINFO_PRIVATE, &pointer)
                curl_multi_remove_handle(multi, handle)
                guard let pointer else { continue }
                let transfer = Unmanaged<Transfer>.fromOpaque(pointer).takeUnretainedValue()
                active[ObjectIdentifier(transfer)] = nil
                finish(transfer, code: code)
                if let easy = transfer.easy {
                    transfer.easy = nil
                    easy.errorBuffer[0] = 0
                    if idle.count < configuration.maxConcurrentStreams { idle.append(easy) }
                }
            }
            // While transfers are in flight, never sleep long: libcurl (7.88) sometimes has
            // work for a transfer without a socket event or a timer to say so, and batches
            // stalled for the whole wait (1 s) until this cap.
            var descriptors: Int32 = 0
            curl_multi_poll(multi, nil, 0, active.isEmpty ? 1000 : 10, &descriptors)
        }
    }

    private func finish(_ transfer: Transfer, code: CURLcode) {
        guard let easy = transfer.easy else { return }
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
            transfer.complete(.failure(HTTPClientError(code: kind, message: message)))
            return
        }
        var status = 0, version = 0
        passline_curl_easy_getinfo_long(easy.handle, PASSLINE_CURLINFO_RESPONSE_CODE, &status)
        passline_curl_easy_getinfo_long(easy.handle, PASSLINE_CURLINFO_HTTP_VERSION, &version)
        transfer.complete(.success(HTTPResponse(
            status: status, headers: transfer.headers, body: transfer.body, httpVersion: version == CURL_HTTP_VERSION_2_0 ? 2 : 1
        )))
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
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds)
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
        if let context { Unmanaged<CurlLoop>.fromOpaque(context).takeUnretainedValue().sockets.remove(socket) }
        return passline_close(socket)
    }

    private static let onBody: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, context in
        guard let data, let context else { return 0 }
        let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
        let length = size * count
        data.withMemoryRebound(to: UInt8.self, capacity: length) { transfer.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length)) }
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
