import ArgumentParser
import Foundation
import GoogleWallet
import PasslineGoogle
import PasslineHTTPClient

/// How this process reaches Google: `PASSLINE_GOOGLE_TOKEN_URL`, `PASSLINE_GOOGLE_API_URL`,
/// `PASSLINE_GOOGLE_KEYS_URL` (the root keys of its save reports), `PASSLINE_GOOGLE_CA_FILE` and
/// `PASSLINE_GOOGLE_REQUESTS_PER_SECOND`, read and checked once.
struct GoogleEnvironment: Sendable {
    var api: GoogleWalletAPI.Configuration
    var caFile: String?

    /// - Throws: `ValidationError` naming every setting at fault.
    static func resolve(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> GoogleEnvironment {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let defaults = GoogleWalletAPI.Configuration()
        var problems: [String] = []
        let tokenURL = value("PASSLINE_GOOGLE_TOKEN_URL") ?? defaults.tokenURL
        let apiURL = value("PASSLINE_GOOGLE_API_URL") ?? defaults.apiURL
        for (name, url) in [("PASSLINE_GOOGLE_TOKEN_URL", tokenURL), ("PASSLINE_GOOGLE_API_URL", apiURL)] where !url.hasPrefix("https://") {
            problems.append("\(name) must be an https URL, found \"\(url)\".")
        }
        let keysURL = value("PASSLINE_GOOGLE_KEYS_URL") ?? defaults.keysURL
        if !keysURL.hasPrefix("https://") { problems.append("PASSLINE_GOOGLE_KEYS_URL must be an https URL, found \"\(keysURL)\".") }
        let caFile = value("PASSLINE_GOOGLE_CA_FILE")
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            problems.append("PASSLINE_GOOGLE_CA_FILE names \(caFile), which cannot be read.")
        }
        var rate = defaults.requestsPerSecond
        if let text = value("PASSLINE_GOOGLE_REQUESTS_PER_SECOND") {
            if let parsed = Double(text), parsed > 0, parsed.isFinite { rate = parsed } else {
                problems.append("PASSLINE_GOOGLE_REQUESTS_PER_SECOND must be a positive number, found \"\(text)\".")
            }
        }
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "\n")) }
        return GoogleEnvironment(api: .init(tokenURL: tokenURL, apiURL: apiURL, requestsPerSecond: rate, keysURL: keysURL), caFile: caFile)
    }

    /// The API client, with its own HTTP client: Google's CA is not APNs' stand-in's.
    func makeAPI() -> (GoogleWalletAPI, HTTPClient) {
        // Google's REST API needs few connections; a small pool keeps the process light.
        let client = HTTPClient(configuration: .init(caFile: caFile, maxInFlight: 200, maxConcurrentStreams: 100))
        return (GoogleWalletAPI(client: client, configuration: api), client)
    }

    /// Read from the environment and made: what the commands other than `serve` use.
    static func api(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (GoogleWalletAPI, HTTPClient) {
        try resolve(environment).makeAPI()
    }
}
