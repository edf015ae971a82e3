import ArgumentParser
import Foundation
import Logging
import LoyaltyRules
import PasslineDatabase
import PasslineServer
import PasslineService

/// Everything `passline serve` reads from its flags and environment, read once and checked
/// before anything starts: a mistake in three settings is reported as three lines at start,
/// not one at a time, and not an hour later when the first push goes out.
struct ServeConfiguration: Sendable {
    var server: ServerConfiguration
    var database: DatabaseURL
    /// APNs' base URL (`PASSLINE_APNS_URL`), and the CA file that its certificate chains to, if
    /// not the system's (`PASSLINE_APNS_CA_FILE`).
    var apnsURL: String
    var apnsCAFile: String?
    var google: GoogleEnvironment
    var logLevel: Logger.Level
    /// `PASSLINE_WEBHOOK_ALLOW_LOOPBACK=1`: webhook endpoints may be on loopback, over http or
    /// https (tests, local development); never in production.
    var webhookAllowLoopback: Bool
    /// `PASSLINE_API_RATE_LIMIT`: each API key's limit as `PER_SECOND/BURST` (default 100/500;
    /// a tenant's keys together get twice that), or `off`.
    var apiRateLimit: RateLimit?
    /// The environment as it was read, for the master key (`PASSLINE_MASTER_KEY`,
    /// `PASSLINE_MASTER_KEY_FILE`), which can only be checked against the store's secrets.
    var environment: [String: String]

    /// - Throws: `ValidationError` with one line for each setting at fault.
    static func resolve(listen: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServeConfiguration {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var problems: [String] = []
        func read<T>(_ body: () throws -> T) -> T? {
            do { return try body() } catch { problems.append("\(error)"); return nil }
        }
        let server = read { try ServerConfiguration.resolve(listen: listen, environment: environment) }
        let database = read { try DatabaseURL.fromEnvironment(environment) }
        let google = read { try GoogleEnvironment.resolve(environment) }
        let apnsURL = value("PASSLINE_APNS_URL") ?? "https://api.push.apple.com"
        if !apnsURL.hasPrefix("https://") {
            problems.append("PASSLINE_APNS_URL must be an https URL (APNs speaks HTTP/2 over TLS), found \"\(apnsURL)\".")
        }
        let apnsCAFile = value("PASSLINE_APNS_CA_FILE")
        if let apnsCAFile, !FileManager.default.isReadableFile(atPath: apnsCAFile) {
            problems.append("PASSLINE_APNS_CA_FILE names \(apnsCAFile), which cannot be read.")
        }
        var logLevel = Logger.Level.info
        if let text = value("LOG_LEVEL") {
            if let level = Logger.Level(rawValue: text.lowercased()) { logLevel = level } else {
                problems.append("LOG_LEVEL must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(text)\".")
            }
        }
        if LogFormat.named(environment) == nil {
            problems.append("LOG_FORMAT must be json or text, found \"\(value("LOG_FORMAT") ?? "")\".")
        }
        var webhookAllowLoopback = false
        switch value("PASSLINE_WEBHOOK_ALLOW_LOOPBACK") {
        case nil, "0": break
        case "1": webhookAllowLoopback = true
        case let other?: problems.append("PASSLINE_WEBHOOK_ALLOW_LOOPBACK must be 1 or 0, found \"\(other)\".")
        }
        var apiRateLimit: RateLimit? = RateLimits.Defaults().key
        if let text = value("PASSLINE_API_RATE_LIMIT") {
            let parts = text.split(separator: "/").map { Int64($0) }
            if text == "off" {
                apiRateLimit = nil
            } else if parts.count == 2, let perSecond = parts[0], let burst = parts[1], RateLimit.perSecondRange.contains(perSecond), RateLimit.burstRange.contains(burst) {
                apiRateLimit = RateLimit(perSecond: perSecond, burst: burst)
            } else {
                problems.append("PASSLINE_API_RATE_LIMIT must be PER_SECOND/BURST (1–100000 and 1–1000000, for example 100/500) or off, found \"\(text)\".")
            }
        }
        guard problems.isEmpty, let server, let database, let google else { throw ValidationError(problems.joined(separator: "\n")) }
        return ServeConfiguration(server: server, database: database, apnsURL: apnsURL, apnsCAFile: apnsCAFile, google: google, logLevel: logLevel,
                                  webhookAllowLoopback: webhookAllowLoopback, apiRateLimit: apiRateLimit, environment: environment)
    }
}
