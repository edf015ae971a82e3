import Foundation
import GoogleWallet
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import PasslineCrypto
import PasslineJSON
import Synchronization

/// A local stand-in for Google's OAuth token endpoint and the Wallet Objects API, over HTTPS.
///
/// It checks what Google checks: the token request's RS256 assertion against the service
/// account's public key and its claims; the bearer token on every API call; that the account
/// was added to the issuer (403 otherwise); and the resources' ids and required fields. It
/// stores classes and objects, so tests read back what the client really sent.
public final class GoogleWalletSimulator: Sendable {
    public struct Behaviour: Sendable {
        /// Share of API calls answered 429 or 503 (alternately, spread evenly), before anything is stored.
        public var failureRate = 0.0
        /// Lifetime of the access tokens it hands out.
        public var tokenLifetimeSeconds = 3600
        public init() {}
    }

    /// One API call as received.
    public struct Call: Sendable, Equatable {
        public let method: String
        public let path: String
        public let body: String
        public let status: Int
    }

    struct Account { var publicKey: PublicKey; var issuers: Set<String> }

    struct State {
        var behaviour = Behaviour()
        var accounts: [String: Account] = [:]
        /// Access token → (service account, expiry in seconds since 1970).
        var tokens: [String: (email: String, expires: Double)] = [:]
        var classes: [String: JSONObject] = [:]
        var objects: [String: JSONObject] = [:]
        var calls: [Call] = []
        var tokensIssued = 0
        /// Authenticated API calls while failures are on, and how many of them failed.
        var apiCalls = 0
        var failures = 0
        /// Per object, when its holders were notified (seconds since 1970): Google allows three a day.
        var notified: [String: [Double]] = [:]
    }

    let state = Mutex(State())
    private let task: Task<Void, any Error>
    public let port: Int
    public var tokenURL: String { "https://127.0.0.1:\(port)/token" }
    public var apiURL: String { "https://127.0.0.1:\(port)/walletobjects/v1" }
    /// Its root signing keys, listed as Google lists its own (`PASSLINE_GOOGLE_KEYS_URL`).
    public var keysURL: String { "https://127.0.0.1:\(port)/gp/m/issuer/keys" }
    /// The root key its key list names, and the intermediate key that signs each report.
    let rootKey: PrivateKey
    let intermediateKey: PrivateKey

    private init(task: Task<Void, any Error>, port: Int, rootKey: PrivateKey, intermediateKey: PrivateKey) {
        self.task = task
        self.port = port
        self.rootKey = rootKey
        self.intermediateKey = intermediateKey
    }

    /// The key list's JSON, as Google's keys URL serves it.
    func keyList() throws -> [UInt8] {
        JSONWriter.bytes(.object(JSONObject([("keys", .array([.object(JSONObject([
            ("keyValue", .string(Base64Standard.encode(try rootKey.publicKeyDER()))),
            ("protocolVersion", .string(WalletCallback.protocolVersion)),
            ("keyExpiration", .string(String(Int64((Date().timeIntervalSince1970 + 30 * 86_400) * 1000)))),
        ]))]))])))
    }

    /// What Google sends when a holder saves an object to their wallet (or deletes it): the
    /// signed body and the URL of the object's class's `callbackOptions`, which the caller
    /// posts it to. nil when the object or its class's callback URL is unknown here.
    /// - Parameters:
    ///   - nonce: Google's id of the report (the same on each retry); a new one by default.
    ///   - signer: another root key, to forge a report.
    public func report(objectID: String, saved: Bool, nonce: String? = nil, issuer: String? = nil, expiresAt: Int64? = nil,
                       signer: PrivateKey? = nil) throws -> (url: String, body: [UInt8])? {
        guard let object = object(objectID), let classID = object["classId"]?.stringValue,
              let url = loyaltyClass(classID)?["callbackOptions"]?["url"]?.stringValue else { return nil }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let report = WalletCallback(classID: classID, objectID: objectID, eventType: saved ? .save : .delete,
                                    nonce: nonce ?? SecureRandom.token(length: 16), expiresAt: expiresAt ?? now + 3_600_000)
        let body = try report.sealed(issuer: issuer ?? String(objectID.prefix { $0 != "." }), rootKey: signer ?? rootKey,
                                     intermediateKey: intermediateKey, keyExpiresAt: now + 86_400_000)
        return (url, body)
    }

    /// Starts listening on `host:port` (0 picks a free port) with the given TLS server credentials.
    public static func start(certificateChainPEM: [UInt8], keyPEM: [UInt8], host: String = "127.0.0.1", port: Int = 0) async throws -> GoogleWalletSimulator {
        let chain = try NIOSSLCertificate.fromPEMBytes(certificateChainPEM)
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(try NIOSSLPrivateKey(bytes: keyPEM, format: .pem))
        )
        let holder = SimulatorHolder()
        let router = Router()
        GoogleRoutes(holder: holder).add(to: router)
        var logger = Logger(label: "google-sim")
        // Its own shutdown logs "already closed" errors that mean nothing to a test run.
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname(host, port: port), serverName: "Google stand-in"),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? port) },
            logger: logger
        )
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw GoogleWalletError(.invalidConfiguration, "The Google stand-in did not start.") }
        let simulator = GoogleWalletSimulator(task: task, port: bound, rootKey: try PrivateKey.generateP256(), intermediateKey: try PrivateKey.generateP256())
        holder.simulator.withLock { $0 = simulator }
        return simulator
    }

    /// Lets `email` (with `publicKeyPEM`) get tokens, and act for `issuers`.
    public func addAccount(email: String, publicKeyPEM: [UInt8], issuers: Set<String>) throws {
        let key = try PublicKey(pem: publicKeyPEM)
        state.withLock { $0.accounts[email] = Account(publicKey: key, issuers: issuers) }
    }

    /// Adds (or removes) an account's permission on an issuer, as the console's "Users" page does.
    public func setPermission(email: String, issuer: String, allowed: Bool) {
        state.withLock { state in
            if allowed { state.accounts[email]?.issuers.insert(issuer) } else { state.accounts[email]?.issuers.remove(issuer) }
        }
    }

    public func update(_ change: (inout Behaviour) -> Void) { state.withLock { change(&$0.behaviour) } }
    /// Every access token stops working, as when Google expires them early.
    public func revokeTokens() { state.withLock { $0.tokens.removeAll() } }
    public func object(_ id: String) -> JSONObject? { state.withLock { $0.objects[id] } }
    /// Forgets an object, as when Google lost it or a console user deleted it.
    public func deleteObject(_ id: String) { state.withLock { $0.objects[id] = nil } }
    public func loyaltyClass(_ id: String) -> JSONObject? { state.withLock { $0.classes[id] } }
    public func objects() -> [String: JSONObject] { state.withLock { $0.objects } }
    public func calls() -> [Call] { state.withLock { $0.calls } }
    /// How many notifying messages an object's holders got in the last 24 hours.
    public func notifications(_ objectID: String) -> Int {
        let now = Date().timeIntervalSince1970
        return state.withLock { $0.notified[objectID]?.filter { $0 > now - 86_400 }.count ?? 0 }
    }
    public func tokensIssued() -> Int { state.withLock { $0.tokensIssued } }

    public func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

final class SimulatorHolder: Sendable {
    let simulator = Mutex<GoogleWalletSimulator?>(nil)
    var value: GoogleWalletSimulator { simulator.withLock { $0! } }
}
