import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import PasslineCrypto
import Synchronization

/// A local stand-in for Apple's push service: HTTP/2 over TLS, a client certificate checked
/// against a CA, `POST /3/device/{token}` with APNs' headers, and APNs' status codes and JSON
/// error bodies. Its behaviour can be set while it runs (tokens that are gone or bad, topics
/// whose certificates are refused, a share of 429/500/503 answers, dropped connections, a delay),
/// so tests and benchmarks exercise the production client code against the real protocol.
public final class APNsSimulator: Sendable {
    public struct Behaviour: Sendable {
        /// Tokens answered 410 `Unregistered`, with the time (ms since 1970) the device was gone.
        public var unregistered: [String: Int64] = [:]
        /// Tokens answered 400 `BadDeviceToken`.
        public var badTokens: Set<String> = []
        /// Topics whose certificates are answered 403 `BadCertificate` (a revoked certificate, say).
        public var forbiddenTopics: Set<String> = []
        /// Client certificates (SHA-256 fingerprints, lowercase hex) answered 403 `BadCertificate`,
        /// as Apple answers a revoked one: the tenant's other certificates still work.
        public var revokedCertificates: Set<String> = []
        /// The share of requests answered 429 `TooManyRequests`, 500 or 503, evenly.
        public var failureRate: Double = 0
        /// The share of requests whose connection is closed without an answer.
        public var dropRate: Double = 0
        public var delayMilliseconds: Int = 0
        /// After every this many requests on a connection (0: never), the stand-in answers the
        /// request, sends GOAWAY naming it as the last stream it processes, and closes the
        /// connection a few seconds later: streams the client opened after it are not processed,
        /// and the client is expected to send them again on a new connection, as when APNs
        /// rotates connections.
        public var goAwayEvery: Int = 0
        public init() {}
    }

    public struct Push: Sendable, Equatable {
        public let token: String
        public let topic: String
        public let apnsID: String
        public let expiration: String?
        public let priority: String?
        public let body: [UInt8]
        /// The topic (UID) of the client certificate it came with; nil without one.
        public let certificateTopic: String?
        public let receivedAt: Int64
        /// The request's header names, lowercase and without pseudo-headers, in the order sent;
        /// only for pushes the stand-in records (`recordPushes`).
        public var headerNames: [String] = []
    }

    public struct Stats: Sendable, Equatable {
        public var received = 0
        public var delivered = 0
        public var dropped = 0
        /// GOAWAY frames sent (see `Behaviour.goAwayEvery`).
        public var goAways = 0
        /// Connections swift-nio-http2 closed because it took the client for an attacker (too
        /// many resets, empty frames, control frames or stream errors). A client that trips this
        /// loses every stream in flight on the connection.
        public var connectionsRefusedAsAbuse = 0
        /// Answers other than 200, by reason.
        public var rejected: [String: Int] = [:]
    }

    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// The server's certificate chain and key, PEM.
        public var certificateChainPEM: [UInt8]
        public var keyPEM: [UInt8]
        /// The authority client certificates must chain to (the tenants' issuer).
        public var clientCAPEM: [UInt8]
        /// Accept connections without a client certificate (treated as allowed for every topic).
        /// Only for measuring the wire with a tool that cannot present one, such as h2load.
        public var allowAnonymous: Bool
        public var maxConcurrentStreams: Int
        /// Keep every push (tests); off for benchmarks of many pushes.
        public var recordPushes: Bool
        public var threads: Int
        /// Called with each delivered push (on an event loop: keep it short).
        public var onPush: (@Sendable (Push) -> Void)?

        public init(host: String = "127.0.0.1", port: Int = 0, certificateChainPEM: [UInt8], keyPEM: [UInt8], clientCAPEM: [UInt8],
                    allowAnonymous: Bool = false, maxConcurrentStreams: Int = 1000, recordPushes: Bool = true, threads: Int = 1) {
            self.host = host; self.port = port; self.certificateChainPEM = certificateChainPEM; self.keyPEM = keyPEM
            self.clientCAPEM = clientCAPEM; self.allowAnonymous = allowAnonymous; self.maxConcurrentStreams = maxConcurrentStreams
            self.recordPushes = recordPushes; self.threads = threads
        }
    }

    struct State {
        var behaviour = Behaviour()
        var pushes: [Push] = []
        var stats = Stats()
        var connections = 0
    }

    let state = Mutex(State())
    let recordPushes: Bool
    let onPush: (@Sendable (Push) -> Void)?
    public let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, recordPushes: Bool, onPush: (@Sendable (Push) -> Void)?) {
        self.onPush = onPush
        self.channel = channel
        self.group = group
        self.recordPushes = recordPushes
        self.port = channel.localAddress?.port ?? 0
    }

    /// Starts listening.
    /// - Throws: when the certificates do not load or the address is taken.
    public static func start(_ configuration: Configuration) async throws -> APNsSimulator {
        let chain = try NIOSSLCertificate.fromPEMBytes(configuration.certificateChainPEM)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: configuration.keyPEM, format: .pem))
        )
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(configuration.clientCAPEM))
        tls.certificateVerification = configuration.allowAnonymous ? .optionalVerification : .noHostnameVerification
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        let holder = Holder()
        let maxStreams = configuration.maxConcurrentStreams
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    holder.simulator?.state.withLock { $0.connections += 1 }
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    var connection = NIOHTTP2Handler.ConnectionConfiguration()
                    connection.initialSettings = [
                        HTTP2Setting(parameter: .maxConcurrentStreams, value: maxStreams),
                        HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
                        HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
                    ]
                    // libcurl (7.88) resets many streams after their answer has arrived (RST_STREAM
                    // STREAM_CLOSED on a stream it has not seen close). swift-nio-http2 takes more
                    // than 200 resets in 30 s for the "rapid reset" attack and drops the connection,
                    // which cut a fan-out's connections about once every 1,000 pushes. Resets of
                    // answered streams cost a server nothing, and APNs takes them from libcurl
                    // senders every day; the limit stays, at a rate no push sender reaches.
                    var streams = NIOHTTP2Handler.StreamConfiguration()
                    streams.streamResetFrameRateLimit.maximumCount = 1_000_000
                    let peer = PeerTopic()
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: connection, streamConfiguration: streams
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(APNsStreamHandler(simulator: holder.simulator!, connection: channel, peer: peer))
                        }
                    }
                    try channel.pipeline.syncOperations.addHandler(AbuseCounter(holder: holder))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        let simulator = APNsSimulator(channel: channel, group: group, recordPushes: configuration.recordPushes, onPush: configuration.onPush)
        holder.simulator = simulator
        return simulator
    }

    /// Changes how it answers from now on.
    public func update(_ change: (inout Behaviour) -> Void) { state.withLock { change(&$0.behaviour) } }

    public func pushes() -> [Push] { state.withLock { $0.pushes } }
    public func stats() -> Stats { state.withLock { $0.stats } }
    /// Connections accepted so far.
    public func connections() -> Int { state.withLock { $0.connections } }
    public func reset() { state.withLock { $0.pushes.removeAll(); $0.stats = Stats() } }

    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// Lets the child initializer reach the simulator made after the bind that needs it.
private final class Holder: @unchecked Sendable {
    var simulator: APNsSimulator?
}

/// The topic (the certificate's UID) of one connection's client certificate, read once.
final class PeerTopic: @unchecked Sendable {
    enum Value { case unknown, anonymous, topic(String, fingerprint: String) }
    var value = Value.unknown
    /// Requests answered on this connection, and the last stream processed once GOAWAY was sent.
    var requests = 0
    var goneAwayAfter: HTTP2StreamID?
}

/// One HTTP/2 stream: one push request.
final class APNsStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let simulator: APNsSimulator
    private let connection: any Channel
    private let peer: PeerTopic
    private var headers = HPACKHeaders()
    private var body: [UInt8] = []

    init(simulator: APNsSimulator, connection: any Channel, peer: PeerTopic) {
        self.simulator = simulator
        self.connection = connection
        self.peer = peer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let frame):
            headers.add(contentsOf: frame.headers)
            if frame.endStream { answer(context: context) }
        case .data(let frame):
            if case .byteBuffer(var buffer) = frame.data, let bytes = buffer.readBytes(length: buffer.readableBytes) { body += bytes }
            if frame.endStream { answer(context: context) }
        default: break
        }
    }

    private func certificateTopic() -> PeerTopic.Value {
        if case .unknown = peer.value {
            if let certificate = try? connection.pipeline.syncOperations.nioSSL_peerCertificate(), let der = try? certificate.toDERBytes(),
               let parsed = try? Certificate(der: der), let uid = parsed.subject.userID {
                peer.value = .topic(uid, fingerprint: parsed.fingerprintSHA256)
            } else {
                peer.value = .anonymous
            }
        }
        return peer.value
    }

    private func answer(context: ChannelHandlerContext) {
        let streamID = (try? context.channel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID)) ?? nil
        if let last = peer.goneAwayAfter, let streamID, streamID > last {
            // After GOAWAY: not processed, so not counted; the client sends it again elsewhere.
            context.close(promise: nil)
            return
        }
        peer.requests += 1
        let every = simulator.state.withLock { $0.behaviour.goAwayEvery }
        defer {
            if every > 0, peer.requests % every == 0, peer.goneAwayAfter == nil, let streamID {
                peer.goneAwayAfter = streamID
                simulator.state.withLock { $0.stats.goAways += 1 }
                let connection = self.connection
                connection.writeAndFlush(HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: streamID, errorCode: .noError, opaqueData: nil)),
                                         promise: nil)
                // Streams up to the named one may still be on their way in; like a real server,
                // let them finish. The client stops opening streams here and closes the connection
                // itself once they have; this only ends one it leaves open. (A close after 100 ms
                // cut off such streams on a loaded machine, and the client could not tell whether
                // they had been processed.)
                connection.eventLoop.scheduleTask(in: .seconds(5)) { connection.close(promise: nil) }
            }
        }
        let decision = decide()
        switch decision {
        case .drop:
            connection.close(promise: nil)
        case .respond(let status, let reason, let timestamp, let apnsID):
            let delay = simulator.state.withLock { $0.behaviour.delayMilliseconds }
            let write = { [self] in self.respond(context: context, status: status, reason: reason, timestamp: timestamp, apnsID: apnsID) }
            if delay > 0 {
                let loopBound = NIOLoopBound(write, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(Int64(delay))) { loopBound.value() }
            } else {
                write()
            }
        }
    }

    enum Decision { case drop, respond(status: Int, reason: String?, timestamp: Int64?, apnsID: String) }

    private func decide() -> Decision {
        let method = headers.first(name: ":method") ?? ""
        let path = headers.first(name: ":path") ?? ""
        let topic = headers.first(name: "apns-topic")
        let apnsID = headers.first(name: "apns-id") ?? UUID().uuidString
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let certificate = certificateTopic()
        let token = path.hasPrefix("/3/device/") ? String(path.dropFirst("/3/device/".count)) : nil

        func reject(_ status: Int, _ reason: String, timestamp: Int64? = nil) -> Decision {
            simulator.state.withLock { $0.stats.received += 1; $0.stats.rejected[reason, default: 0] += 1 }
            return .respond(status: status, reason: reason, timestamp: timestamp, apnsID: apnsID)
        }
        let behaviour = simulator.state.withLock { $0.behaviour }
        if behaviour.dropRate > 0, Double.random(in: 0..<1) < behaviour.dropRate {
            simulator.state.withLock { $0.stats.received += 1; $0.stats.dropped += 1 }
            return .drop
        }
        guard method == "POST" else { return reject(405, "MethodNotAllowed") }
        guard let token else { return reject(404, "BadPath") }
        guard let topic, !topic.isEmpty else { return reject(400, "MissingTopic") }
        var certificateTopic: String?
        switch certificate {
        case .topic(let uid, let fingerprint):
            certificateTopic = uid
            guard !behaviour.forbiddenTopics.contains(uid), !behaviour.revokedCertificates.contains(fingerprint) else {
                return reject(403, "BadCertificate")
            }
            guard uid == topic else { return reject(400, "TopicDisallowed") }
        case .anonymous, .unknown: break
        }
        if let expiration = headers.first(name: "apns-expiration"), Int64(expiration) == nil { return reject(400, "BadExpirationDate") }
        if let priority = headers.first(name: "apns-priority"), !["1", "5", "10"].contains(priority) { return reject(400, "BadPriority") }
        if let id = headers.first(name: "apns-id"), UUID(uuidString: id) == nil { return reject(400, "BadMessageId") }
        guard !body.isEmpty else { return reject(400, "PayloadEmpty") }
        guard body.count <= 4096 else { return reject(413, "PayloadTooLarge") }
        guard (try? JSONSerialization.jsonObject(with: Data(body))) is [String: Any] else { return reject(400, "BadPayload") }
        guard Self.isDeviceToken(token), !behaviour.badTokens.contains(token) else { return reject(400, "BadDeviceToken") }
        if let gone = behaviour.unregistered[token] { return reject(410, "Unregistered", timestamp: gone) }
        if behaviour.failureRate > 0, Double.random(in: 0..<1) < behaviour.failureRate {
            switch Int.random(in: 0..<3) {
            case 0: return reject(429, "TooManyRequests")
            case 1: return reject(500, "InternalServerError")
            default: return reject(503, "ServiceUnavailable")
            }
        }
        var push = APNsSimulator.Push(token: token, topic: topic, apnsID: apnsID, expiration: headers.first(name: "apns-expiration"),
                        priority: headers.first(name: "apns-priority"), body: body, certificateTopic: certificateTopic, receivedAt: now)
        let record = simulator.recordPushes
        if record { push.headerNames = headers.map(\.name).filter { !$0.hasPrefix(":") } }
        simulator.state.withLock { state in
            state.stats.received += 1
            state.stats.delivered += 1
            if record { state.pushes.append(push) }
        }
        simulator.onPush?(push)
        return .respond(status: 200, reason: nil, timestamp: nil, apnsID: apnsID)
    }

    /// Device tokens are 32 bytes, sent as 64 hexadecimal digits.
    static func isDeviceToken(_ token: String) -> Bool {
        guard token.utf8.count == 64 else { return false }
        for byte in token.utf8 {
            let digit = byte >= 48 && byte <= 57
            let lower = byte >= 97 && byte <= 102
            let upper = byte >= 65 && byte <= 70
            if !(digit || lower || upper) { return false }
        }
        return true
    }

    private func respond(context: ChannelHandlerContext, status: Int, reason: String?, timestamp: Int64?, apnsID: String) {
        var headers = HPACKHeaders([(":status", String(status)), ("apns-id", apnsID)])
        guard let reason else {
            context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
            return
        }
        var json = "{\"reason\":\"\(reason)\""
        if let timestamp { json += ",\"timestamp\":\(timestamp)" }
        json += "}"
        headers.add(name: "content-type", value: "application/json")
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer(string: json)), endStream: true))), promise: nil)
    }
}

/// Counts connections that swift-nio-http2 refused as abuse; see `Stats.connectionsRefusedAsAbuse`.
private final class AbuseCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any
    private let holder: Holder

    init(holder: Holder) { self.holder = holder }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case is NIOHTTP2Errors.ExcessiveRSTFrames, is NIOHTTP2Errors.ExcessiveEmptyDataFrames, is NIOHTTP2Errors.ExcessiveStreamErrors,
             is NIOHTTP2Errors.ExcessiveControlFrames, is NIOHTTP2Errors.ExcessiveContinuationFrames, is NIOHTTP2Errors.ExcessiveOutboundFrameBuffering,
             is NIOHTTP2Errors.ExcessiveNumberOfGlitches:
            holder.simulator?.state.withLock { $0.stats.connectionsRefusedAsAbuse += 1 }
        default: break
        }
        context.fireErrorCaught(error)
    }
}
