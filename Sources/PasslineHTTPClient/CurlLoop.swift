import CCurl
import Foundation
import Synchronization

/// One request inside libcurl: its easy handle and what has arrived so far. Touched only by the
/// loop's thread once submitted.
final class Transfer: @unchecked Sendable {
    let request: HTTPRequest
    let continuation: CheckedContinuation<HTTPResponse, any Error>
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []
    var handle: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    init(request: HTTPRequest, continuation: CheckedContinuation<HTTPResponse, any Error>) {
        self.request = request
        self.continuation = continuation
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        if let headerList { curl_slist_free_all(headerList) }
        if let handle { curl_easy_cleanup(handle) }
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
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)

    private static let globalInit: Void = { curl_global_init(Int(PASSLINE_CURL_GLOBAL_DEFAULT)) }()

    init(configuration: HTTPClient.Configuration) {
        _ = Self.globalInit
        self.configuration = configuration
        multi = curl_multi_init()
        passline_curl_multi_setopt_long(multi, PASSLINE_CURLMOPT_PIPELINING, PASSLINE_CURLPIPE_MULTIPLEX)
        passline_curl_multi_setopt_long(multi, PASSLINE_CURLMOPT_MAX_CONCURRENT_STREAMS, configuration.maxConcurrentStreams)
        passline_curl_multi_setopt_long(multi, PASSLINE_CURLMOPT_MAX_HOST_CONNECTIONS, configuration.connectionsPerHost)
    }

    func submit(_ transfer: Transfer) {
        let accepted = inbox.withLock { inbox -> Bool in
            guard !inbox.stopped else { return false }
            inbox.pending.append(transfer)
            return true
        }
        guard accepted else {
            transfer.continuation.resume(throwing: HTTPClientError(code: .shutdown, message: "The HTTP client was shut down."))
            return
        }
        if !started.exchange(true, ordering: .acquiringAndReleasing) {
            let thread = Thread { [self] in run() }
            thread.name = "passline-http-client"
            thread.start()
        }
        curl_multi_wakeup(multi)
    }

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
        var active: [ObjectIdentifier: Transfer] = [:]
        while true {
            let (pending, stopped) = inbox.withLock { inbox in
                defer { inbox.pending.removeAll(keepingCapacity: true) }
                return (inbox.pending, inbox.stopped)
            }
            if stopped {
                for transfer in pending + active.values {
                    transfer.continuation.resume(throwing: HTTPClientError(code: .shutdown, message: "The HTTP client was shut down."))
                    if let handle = transfer.handle { curl_multi_remove_handle(multi, handle) }
                }
                active.removeAll()
                curl_multi_cleanup(multi)
                finished.signal()
                return
            }
            for transfer in pending {
                do {
                    try configure(transfer)
                    curl_multi_add_handle(multi, transfer.handle)
                    active[ObjectIdentifier(transfer)] = transfer
                } catch {
                    transfer.continuation.resume(throwing: error)
                }
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
                var pointer: UnsafeMutableRawPointer?
                passline_curl_easy_getinfo_pointer(handle, PASSLINE_CURLINFO_PRIVATE, &pointer)
                curl_multi_remove_handle(multi, handle)
                guard let pointer else { continue }
                let transfer = Unmanaged<Transfer>.fromOpaque(pointer).takeUnretainedValue()
                active[ObjectIdentifier(transfer)] = nil
                finish(transfer, code: message.pointee.data.result)
            }
            var descriptors: Int32 = 0
            curl_multi_poll(multi, nil, 0, 1000, &descriptors)
        }
    }

    private func finish(_ transfer: Transfer, code: CURLcode) {
        guard let handle = transfer.handle else { return }
        guard code == CURLE_OK else {
            let detail = String(cString: transfer.errorBuffer)
            let message = "\(transfer.request.method) \(transfer.request.url): \(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)"
            let kind: HTTPClientError.Code
            switch code {
            case CURLE_OPERATION_TIMEDOUT: kind = .timeout
            case CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CLIENTCERT:
                kind = .tls
            case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT: kind = .invalidRequest
            default: kind = .connection
            }
            transfer.continuation.resume(throwing: HTTPClientError(code: kind, message: message))
            return
        }
        var status = 0, version = 0
        passline_curl_easy_getinfo_long(handle, PASSLINE_CURLINFO_RESPONSE_CODE, &status)
        passline_curl_easy_getinfo_long(handle, PASSLINE_CURLINFO_HTTP_VERSION, &version)
        transfer.continuation.resume(returning: HTTPResponse(
            status: status, headers: transfer.headers, body: transfer.body, httpVersion: version == CURL_HTTP_VERSION_2_0 ? 2 : 1
        ))
    }

    private func configure(_ transfer: Transfer) throws {
        guard let handle = curl_easy_init() else { throw HTTPClientError(code: .invalidRequest, message: "libcurl could not make a handle.") }
        transfer.handle = handle
        let request = transfer.request
        func check(_ code: CURLcode, _ what: String) throws {
            guard code == CURLE_OK else {
                throw HTTPClientError(code: .invalidRequest, message: "\(request.url): \(what): \(String(cString: curl_easy_strerror(code)))")
            }
        }
        try check(passline_curl_easy_setopt_string(handle, PASSLINE_CURLOPT_URL, request.url), "the URL")
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_PRIVATE, Unmanaged.passUnretained(transfer).toOpaque())
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_ERRORBUFFER, transfer.errorBuffer)
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_NOSIGNAL, 1)
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_HTTP_VERSION, PASSLINE_CURL_HTTP_VERSION_2TLS)
        // Wait for a connection that can take another stream rather than opening a new one.
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_PIPEWAIT, 1)
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds)
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_CONNECTTIMEOUT_MS, configuration.connectTimeoutMilliseconds)
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_TCP_KEEPALIVE, 1)
        // A connection idle longer than this is not trusted to still be there; a fresh one is made.
        passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_MAXAGE_CONN, 300)
        passline_curl_easy_setopt_write(handle, Self.onBody)
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_WRITEDATA, Unmanaged.passUnretained(transfer).toOpaque())
        passline_curl_easy_setopt_header(handle, Self.onHeader)
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_HEADERDATA, Unmanaged.passUnretained(transfer).toOpaque())
        if let caFile = configuration.caFile { try check(passline_curl_easy_setopt_string(handle, PASSLINE_CURLOPT_CAINFO, caFile), "the CA file") }
        if let identity = request.identity {
            var certificate = identity.certificatePEM, key = identity.keyPEM
            try check(passline_curl_easy_setopt_string(handle, PASSLINE_CURLOPT_SSLCERTTYPE, "PEM"), "the certificate type")
            try check(certificate.withUnsafeMutableBytes { passline_curl_easy_setopt_blob(handle, PASSLINE_CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count) }, "the client certificate")
            try check(passline_curl_easy_setopt_string(handle, PASSLINE_CURLOPT_SSLKEYTYPE, "PEM"), "the key type")
            try check(key.withUnsafeMutableBytes { passline_curl_easy_setopt_blob(handle, PASSLINE_CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count) }, "the client key")
        }
        var list: UnsafeMutablePointer<curl_slist>?
        for header in request.headers { list = curl_slist_append(list, "\(header.name): \(header.value)") }
        // libcurl adds "Expect: 100-continue" to larger bodies over HTTP/1.1; nothing here wants it.
        list = curl_slist_append(list, "Expect:")
        transfer.headerList = list
        passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))
        switch request.method {
        case "GET": passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_HTTPGET, 1)
        default:
            if request.method != "POST" { try check(passline_curl_easy_setopt_string(handle, PASSLINE_CURLOPT_CUSTOMREQUEST, request.method), "the method") }
            if !request.body.isEmpty || request.method == "POST" {
                passline_curl_easy_setopt_long(handle, PASSLINE_CURLOPT_POSTFIELDSIZE, request.body.count)
                try request.body.withUnsafeBytes { bytes in
                    // COPYPOSTFIELDS copies now: the request's array need not outlive this call.
                    try check(passline_curl_easy_setopt_pointer(handle, PASSLINE_CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)), "the body")
                }
            }
        }
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
        let line = data.withMemoryRebound(to: UInt8.self, capacity: length) { String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self) }
        if line.hasPrefix("HTTP/") {
            transfer.headers.removeAll()  // a new response (after a redirect or 100): start over
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            transfer.headers.append((name, value))
        }
        return length
    }
}
