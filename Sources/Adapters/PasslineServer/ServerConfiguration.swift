import Foundation
import Logging

/// How `passline serve` is set up: flags over environment over defaults, with the names
/// INTERFACE.md fixes.
public struct ServerConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The base outsiders use; a tenant's passes get `<publicURL>/passkit/<tenant id>`.
    public var publicURL: String
    /// Bearer token of the admin API; nil keeps it off.
    public var adminToken: String?
    /// Sign-ins to the web app from one address: a burst, then this many a second (one every 6 s).
    public var signInBurst = 10
    public var signInPerSecond = 1.0 / 6
    /// Apple's log endpoint needs no authentication: per tenant, this many requests at once, then `perSecond`.
    public var deviceLogBurst = 100
    public var deviceLogPerSecond = 2.0
    /// Device registrations from one address: this many at once, then `perSecond` (60 a minute).
    public var registrationBurst = 60
    public var registrationsPerSecond = 1.0
    /// Apple's web service and the public card links, per source address and per card.
    public var publicSourceBurst = 600
    public var publicSourcePerSecond = 50.0
    public var publicCardBurst = 60
    public var publicCardPerSecond = 5.0
    /// Bearer token `/metrics` requires; nil serves it to loopback clients only.
    public var metricsToken: String?
    /// The level of the one line per request: info for a log shipper (`LOG_FORMAT=json`), debug otherwise.
    public var accessLogLevel: Logger.Level = .debug
    /// The official wallet badges from `PASSLINE_BADGES_DIR`; none: the card page's look-alikes.
    public var badges = WalletBadges()

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// - Parameters:
    ///   - listen: the `--listen` flag, overriding `PASSLINE_LISTEN` (default `127.0.0.1:8080`).
    ///   - environment: `PASSLINE_LISTEN`, `PASSLINE_PUBLIC_URL`, `PASSLINE_ADMIN_TOKEN`.
    /// - Throws: `Invalid` naming the setting and the value at fault.
    public static func resolve(listen: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServerConfiguration {
        let listenValue = listen ?? environment["PASSLINE_LISTEN"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1:8080"
        let source = listen != nil ? "--listen" : "PASSLINE_LISTEN"
        let (host, port) = try parseListen(listenValue, source: source)
        var publicURL = environment["PASSLINE_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://\(listenValue)"
        while publicURL.hasSuffix("/") { publicURL.removeLast() }
        guard publicURL.hasPrefix("http://") || publicURL.hasPrefix("https://"), URL(string: publicURL)?.host != nil else {
            throw Invalid(description: "PASSLINE_PUBLIC_URL must be an http or https URL, found \"\(publicURL)\".")
        }
        // The URL is frozen into every pass issued: one that iPhones will not talk to (Wallet
        // requires https) cannot be corrected later. Plain http only for this machine.
        if publicURL.hasPrefix("http://"), let host = URL(string: publicURL)?.host, !isLoopback(host) {
            let origin = environment["PASSLINE_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 } == nil ? " (made from \(source) \(listenValue), as PASSLINE_PUBLIC_URL is not set)" : ""
            throw Invalid(description: "PASSLINE_PUBLIC_URL must be https:// unless its host is loopback, found \"\(publicURL)\"\(origin): every pass issued keeps this URL, and Wallet talks only https. Put Passline behind TLS and set PASSLINE_PUBLIC_URL=https://….")
        }
        let admin = environment["PASSLINE_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let admin, admin.count < 16 {
            throw Invalid(description: "PASSLINE_ADMIN_TOKEN is \(admin.count) characters; use at least 16 random ones.")
        }
        let metrics = environment["PASSLINE_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let metrics, metrics.count < 16 {
            throw Invalid(description: "PASSLINE_METRICS_TOKEN is \(metrics.count) characters; use at least 16 random ones.")
        }
        var configuration = ServerConfiguration(host: host, port: port, publicURL: publicURL, adminToken: admin)
        configuration.metricsToken = metrics
        if environment["LOG_FORMAT"]?.lowercased() == "json" { configuration.accessLogLevel = .info }
        if let directory = environment["PASSLINE_BADGES_DIR"].flatMap({ $0.isEmpty ? nil : $0 }) {
            configuration.badges = try WalletBadges.load(directory: directory)
        }
        // Apple's web service and the public links: PER_SECOND/BURST per source address (a card
        // gets a tenth of it), or off (a load test from one address).
        if let text = environment["PASSLINE_PUBLIC_RATE_LIMIT"].flatMap({ $0.isEmpty ? nil : $0 }) {
            let parts = text.split(separator: "/").map { Int($0) }
            if text == "off" {
                (configuration.publicSourceBurst, configuration.publicSourcePerSecond) = (1_000_000_000, 1_000_000_000)
                (configuration.publicCardBurst, configuration.publicCardPerSecond) = (1_000_000_000, 1_000_000_000)
            } else if parts.count == 2, let perSecond = parts[0], let burst = parts[1], (1...1_000_000).contains(perSecond), (1...10_000_000).contains(burst) {
                (configuration.publicSourceBurst, configuration.publicSourcePerSecond) = (burst, Double(perSecond))
                (configuration.publicCardBurst, configuration.publicCardPerSecond) = (max(1, burst / 10), max(0.1, Double(perSecond) / 10))
            } else {
                throw Invalid(description: "PASSLINE_PUBLIC_RATE_LIMIT must be PER_SECOND/BURST (for example 50/600) or off, found \"\(text)\".")
            }
        }
        return configuration
    }

    static func parseListen(_ value: String, source: String) throws -> (String, Int) {
        let invalid = Invalid(description: "\(source) must be HOST:PORT (127.0.0.1:8080, [::1]:8080), found \"\(value)\".")
        guard let colon = value.lastIndex(of: ":") else { throw invalid }
        var host = String(value[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(value[value.index(after: colon)...]), (0...65535).contains(port) else { throw invalid }
        return (host, port)
    }

    /// localhost, 127.0.0.0/8 and ::1.
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare == "::1" { return true }
        let parts = bare.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { part in part.count <= 3 && UInt8(part) != nil }
    }

    /// `webServiceURL` for a tenant's passes.
    public func webServiceURL(tenant: String) -> String { "\(publicURL)/passkit/\(tenant)" }
}
