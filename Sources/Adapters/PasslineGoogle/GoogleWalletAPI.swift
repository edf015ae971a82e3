import Foundation
import GoogleWallet
import PasslineHTTPClient
import PasslineService
import PasslineJSON
import Synchronization

/// Why a Google call did not succeed, sorted by what to do about it.
public struct GoogleAPIError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// 403: the service account is not a user of the issuer. Configuration; pause.
        case permission
        /// The token endpoint refused the account's assertion (wrong or revoked key). Configuration; pause.
        case credentials
        case notFound
        case conflict
        /// 400: Google refused the resource itself. Retrying the same body will not help.
        case rejected
        /// 429, 5xx, or no answer: try again later.
        case unavailable
    }

    public let kind: Kind
    public let status: Int?
    public let message: String
    public var description: String { message }
}

/// Google's OAuth token endpoint and Wallet Objects API, over the project's HTTP client.
///
/// Access tokens come from the JWT-bearer grant and are kept per service account until a
/// minute before they expire; a 401 gets one fresh token and one retry. Calls for one issuer
/// are paced to `requestsPerSecond`, under Google's per-issuer quota.
public final class GoogleWalletAPI: Sendable {
    public struct Configuration: Sendable {
        public var tokenURL: String
        public var apiURL: String
        public var requestsPerSecond: Double
        public var timeoutMilliseconds: Int
        /// Google's root keys for the save and deletion reports (`ECv2SigningOnly`).
        public var keysURL: String
        public init(tokenURL: String = "https://oauth2.googleapis.com/token", apiURL: String = "https://walletobjects.googleapis.com/walletobjects/v1",
                    requestsPerSecond: Double = 20, timeoutMilliseconds: Int = 15_000, keysURL: String = WalletCallback.defaultKeysURL) {
            var api = apiURL
            while api.hasSuffix("/") { api.removeLast() }
            self.tokenURL = tokenURL; self.apiURL = api; self.requestsPerSecond = requestsPerSecond; self.timeoutMilliseconds = timeoutMilliseconds
            self.keysURL = keysURL
        }
    }

    public let configuration: Configuration
    private let client: HTTPClient
    private let tokens = Mutex<[String: (token: String, expires: Date)]>([:])
    static let maxCachedTokens = 10_000
    private let pacer: Pacer
    /// Google's root keys and when they were fetched.
    private let rootKeyCache = Mutex<(keys: WalletCallback.RootKeys, fetched: Date)?>(nil)

    public init(client: HTTPClient, configuration: Configuration) {
        self.client = client
        self.configuration = configuration
        self.pacer = Pacer(perSecond: configuration.requestsPerSecond)
    }

    /// A JSON answer from the API.
    public struct Answer: Sendable {
        public let status: Int
        public let body: JSONValue?
    }

    /// Calls the API as `account` for `issuer`; any 2xx is an answer, everything else throws.
    /// - Parameter path: relative to the API base, such as `loyaltyObject/3388….abc`.
    /// - Throws: `GoogleAPIError`.
    @discardableResult
    public func call(_ method: String, _ path: String, body: JSONObject? = nil, account: ServiceAccountKey, issuer: String) async throws -> Answer {
        var retried = false
        while true {
            let token = try await accessToken(account, refresh: retried)
            await pacer.wait(issuer)
            var headers = [(name: "Authorization", value: "Bearer \(token)"), (name: "Accept", value: "application/json")]
            if body != nil { headers.append((name: "Content-Type", value: "application/json; charset=utf-8")) }
            let request = HTTPRequest(method: method, url: "\(configuration.apiURL)/\(path)", headers: headers,
                                      body: body.map { JSONWriter.bytes(.object($0)) } ?? [], timeoutMilliseconds: configuration.timeoutMilliseconds)
            let response: HTTPResponse
            do { response = try await client.send(request) } catch {
                throw GoogleAPIError(kind: .unavailable, status: nil, message: "Google Wallet API unreachable (\(method) \(path)): \(error)")
            }
            let parsed = try? JSONParser.parse(response.body)
            if (200..<300).contains(response.status) { return Answer(status: response.status, body: parsed) }
            if response.status == 401 && !retried {
                retried = true
                continue
            }
            let detail = parsed?["error"]?["message"]?.stringValue ?? String(decoding: response.body.prefix(300), as: UTF8.self)
            let kind: GoogleAPIError.Kind = switch response.status {
            case 403: .permission
            case 404: .notFound
            case 409: .conflict
            case 401: .credentials
            case 429, 500...: .unavailable
            default: .rejected
            }
            var message = "Google answered \(response.status) to \(method) \(path): \(detail)"
            if kind == .permission {
                message += ". The service account \(account.clientEmail) is probably not a user of issuer \(issuer): add it in the Google Pay & Wallet console (Users → Invite a user) and run `passline tenant google check`."
            }
            throw GoogleAPIError(kind: kind, status: response.status, message: message)
        }
    }

    /// Google's root signing keys, fetched at most once a minute and kept an hour: a report
    /// that fails to check asks again (Google rotates them), but no stream of forged reports
    /// turns into a stream of fetches.
    /// - Throws: `GoogleAPIError(.unavailable)` when none can be fetched and none are cached.
    public func rootKeys(refresh: Bool) async throws -> WalletCallback.RootKeys {
        if let cached = rootKeyCache.withLock({ $0 }) {
            let age = Date().timeIntervalSince(cached.fetched)
            if age < 3600 && (!refresh || age < 60) { return cached.keys }
        }
        let request = HTTPRequest(method: "GET", url: configuration.keysURL, headers: [(name: "Accept", value: "application/json")],
                                  timeoutMilliseconds: configuration.timeoutMilliseconds, maxResponseBytes: 256 * 1024)
        do {
            let response = try await client.send(request)
            guard response.status == 200 else {
                throw GoogleAPIError(kind: .unavailable, status: response.status, message: "Google's keys URL \(configuration.keysURL) answered \(response.status).")
            }
            let keys = try WalletCallback.RootKeys(json: response.body)
            rootKeyCache.withLock { $0 = (keys, Date()) }
            return keys
        } catch {
            if let cached = rootKeyCache.withLock({ $0 }) { return cached.keys }
            throw error as? GoogleAPIError ?? GoogleAPIError(kind: .unavailable, status: nil, message: "Google's keys from \(configuration.keysURL): \(error)")
        }
    }

    /// An access token for `account`, from the cache unless `refresh`.
    /// - Throws: `GoogleAPIError` (`.credentials` when the token endpoint refuses the account).
    public func accessToken(_ account: ServiceAccountKey, refresh: Bool = false) async throws -> String {
        let key = account.cacheIdentity
        if !refresh, let cached = tokens.withLock({ $0[key] }), cached.expires > Date() { return cached.token }
        let body = try TokenGrant.body(account: account, tokenURL: configuration.tokenURL)
        let request = HTTPRequest(method: "POST", url: configuration.tokenURL, headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded")],
                                  body: Array(body.utf8), timeoutMilliseconds: configuration.timeoutMilliseconds)
        let response: HTTPResponse
        do { response = try await client.send(request) } catch {
            throw GoogleAPIError(kind: .unavailable, status: nil, message: "Google's token endpoint \(configuration.tokenURL) is unreachable: \(error)")
        }
        let parsed = try? JSONParser.parse(response.body)
        guard response.status == 200, let token = parsed?["access_token"]?.stringValue else {
            var reason = [parsed?["error"]?.stringValue, parsed?["error_description"]?.stringValue].compactMap { $0 }.joined(separator: ": ")
            while reason.hasSuffix(".") { reason.removeLast() }
            let kind: GoogleAPIError.Kind = response.status == 429 || response.status >= 500 ? .unavailable : .credentials
            throw GoogleAPIError(kind: kind, status: response.status, message: "Google's token endpoint refused the service account \(account.clientEmail) (\(response.status)): \(reason.isEmpty ? "no reason given" : reason). Check that the key file is current and not deleted in Google Cloud's console.")
        }
        let lifetime = Double(parsed?["expires_in"]?.intValue ?? 3600)
        // A minute early: a token must not run out between the check and Google reading it.
        tokens.withLock { tokens in
            // Bounded: expired tokens go whenever one is added, and past the cap the soonest to
            // expire make room (a platform has one service account per tenant at most).
            let now = Date()
            tokens = tokens.filter { $0.value.expires > now }
            if tokens.count >= Self.maxCachedTokens, let soonest = tokens.min(by: { $0.value.expires < $1.value.expires })?.key {
                tokens.removeValue(forKey: soonest)
            }
            tokens[key] = (token, now.addingTimeInterval(max(0, lifetime - 60)))
        }
        return token
    }
}

/// Spaces calls to one issuer at most `perSecond` apart on average, with a burst of one second's worth.
public final class Pacer: Sendable {
    private let next = Mutex<[String: Double]>([:])
    let perSecond: Double

    public init(perSecond: Double) { self.perSecond = max(0.1, perSecond) }

    public func wait(_ key: String) async {
        let now = Date().timeIntervalSince1970
        let at = next.withLock { next -> Double in
            // Unused time is kept up to one second, so a quiet issuer may send a burst.
            let slot = max(next[key] ?? 0, now - 1)
            next[key] = slot + 1 / perSecond
            return slot
        }
        if at > now { try? await Task.sleep(for: .milliseconds(Int((at - now) * 1000))) }
    }
}
extension GoogleWalletAPI: GoogleRootKeySource {}
