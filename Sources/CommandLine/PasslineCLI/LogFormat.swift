import Foundation
import Logging
import PasslineServer

/// How the process writes its log: `LOG_FORMAT=json` for one JSON object per line (for a log
/// shipper), `text` (the default) for people reading a terminal.
public enum LogFormat: String, Sendable {
    case text, json

    /// The format `LOG_FORMAT` names; nil for a value that is neither (`ServeConfiguration` says so).
    public static func named(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> LogFormat? {
        guard let text = environment["LOG_FORMAT"], !text.isEmpty else { return .text }
        return LogFormat(rawValue: text.lowercased())
    }

    /// Sets the process's log handler once, before any logger is made.
    public static func bootstrap(_ environment: [String: String] = ProcessInfo.processInfo.environment) {
        let format = named(environment) ?? .text
        LoggingSystem.bootstrap { label in
            format == .json ? JSONLogHandler(label: label) as any LogHandler : StreamLogHandler.standardError(label: label)
        }
    }
}
