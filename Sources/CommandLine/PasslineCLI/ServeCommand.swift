import ArgumentParser
import Foundation
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the server: migrates the store first, then serves until SIGTERM or SIGINT.",
        discussion: """
            Reads PASSLINE_LISTEN (default 127.0.0.1:8080), PASSLINE_PUBLIC_URL (default http://<listen>), \
            PASSLINE_DATABASE_URL (default sqlite:./var/passline.sqlite), PASSLINE_MASTER_KEY or PASSLINE_MASTER_KEY_FILE \
            (default: a key file made under ./var), PASSLINE_ADMIN_TOKEN (default: admin API off), \
            PASSLINE_APNS_URL (default https://api.push.apple.com), PASSLINE_APNS_CA_FILE (default: the system's trust store), \
            PASSLINE_GOOGLE_TOKEN_URL, PASSLINE_GOOGLE_API_URL, PASSLINE_GOOGLE_KEYS_URL, PASSLINE_GOOGLE_CA_FILE, PASSLINE_GOOGLE_REQUESTS_PER_SECOND (default 20 per issuer), \
            PASSLINE_METRICS_TOKEN, PASSLINE_BADGES_DIR (the official wallet badges), LOG_LEVEL (default info), LOG_FORMAT (text or json). Every setting at fault is named at start. \
            On SIGTERM the server stops taking requests, finishes those in flight, and the workers settle the batches in hand.
            """
    )

    @Option(help: "HOST:PORT to listen on; overrides PASSLINE_LISTEN.")
    var listen: String?

    func run() async throws {
        let configuration = try ServeConfiguration.resolve(listen: listen)
        var logger = Logger(label: "passline")
        logger.logLevel = configuration.logLevel
        let process = try await PasslineProcess.build(configuration, logger: logger)
        try await process.run()
    }
}
