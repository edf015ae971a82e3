import Logging

/// The logger the commands other than `serve` hand to the library code they run (a campaign
/// started from the command line, a Google sync, a benchmark's workers): warnings and worse,
/// to standard error, beside the command's own output.
enum CommandLogger {
    static let shared: Logger = {
        var logger = Logger(label: "passline")
        logger.logLevel = .warning
        return logger
    }()
}
