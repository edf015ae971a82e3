import ArgumentParser
import Foundation
import PasslineGoogle
import PasslineHTTPClient

/// Google Wallet's endpoints as the environment sets them (a local stand-in in tests and the demo).
enum GoogleEnvironment {
    /// The API client, with its own HTTP client: Google's CA is not APNs' stand-in's.
    static func api(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (GoogleWalletAPI, HTTPClient) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let defaults = GoogleWalletAPI.Configuration()
        let tokenURL = value("PASSLINE_GOOGLE_TOKEN_URL") ?? defaults.tokenURL
        let apiURL = value("PASSLINE_GOOGLE_API_URL") ?? defaults.apiURL
        for (name, url) in [("PASSLINE_GOOGLE_TOKEN_URL", tokenURL), ("PASSLINE_GOOGLE_API_URL", apiURL)] where !url.hasPrefix("https://") {
            throw ValidationError("\(name) must be an https URL, found \"\(url)\".")
        }
        let caFile = value("PASSLINE_GOOGLE_CA_FILE")
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ValidationError("PASSLINE_GOOGLE_CA_FILE names \(caFile), which cannot be read.")
        }
        var rate = defaults.requestsPerSecond
        if let text = value("PASSLINE_GOOGLE_REQUESTS_PER_SECOND") {
            guard let parsed = Double(text), parsed > 0 else { throw ValidationError("PASSLINE_GOOGLE_REQUESTS_PER_SECOND must be a positive number, found \"\(text)\".") }
            rate = parsed
        }
        // Google's REST API needs few connections; a small pool keeps the process light.
        let client = HTTPClient(configuration: .init(caFile: caFile, maxInFlight: 200, maxConcurrentStreams: 100))
        return (GoogleWalletAPI(client: client, configuration: .init(tokenURL: tokenURL, apiURL: apiURL, requestsPerSecond: rate)), client)
    }
}
