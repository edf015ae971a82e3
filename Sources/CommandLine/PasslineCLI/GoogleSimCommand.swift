import ArgumentParser
import Foundation
import GoogleWallet
import PasslineGoogleSim

struct GoogleSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "google-sim",
        abstract: "Run the local Google Wallet stand-in: the OAuth token endpoint and the Wallet Objects API over HTTPS.",
        discussion: """
            On first start it writes its own CA and server certificate into --dir. Point Passline at it with \
            PASSLINE_GOOGLE_TOKEN_URL=https://127.0.0.1:PORT/token, PASSLINE_GOOGLE_API_URL=https://127.0.0.1:PORT/walletobjects/v1, \
            PASSLINE_GOOGLE_KEYS_URL=https://127.0.0.1:PORT/gp/m/issuer/keys (its save reports' root key) \
            and PASSLINE_GOOGLE_CA_FILE=<dir>/ca.pem. Each --service-account key file may act for every --issuer. \
            Each API call is printed as a JSON line.
            """
    )

    @Option(help: "HOST:PORT to listen on.")
    var listen = "127.0.0.1:2198"

    @Option(help: "Where its CA (ca.pem), certificate and key live; made when missing.")
    var dir = "var/google-sim"

    @Option(name: .customLong("service-account"), help: "A service-account key file whose account may get tokens (repeatable).")
    var serviceAccounts: [String] = []

    @Option(name: .customLong("issuer"), help: "An issuer id the accounts are users of (repeatable).")
    var issuers: [String] = []

    @Option(name: .customLong("failure-rate"), help: "Share of API calls answered 429 or 503 (0 to 1).")
    var failureRate = 0.0

    func validate() throws {
        guard (0...1).contains(failureRate) else { throw ValidationError("--failure-rate must be between 0 and 1, found \(failureRate).") }
        for issuer in issuers { try WalletIDs.checkIssuer(issuer) }
    }

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT, found \"\(listen)\".")
        }
        let host = String(listen[..<colon])
        let files = try StandInFiles.load(dir: dir, host: host, name: "Passline Google stand-in")
        let sim = try await GoogleWalletSimulator.start(certificateChainPEM: files.certificateChainPEM, keyPEM: files.keyPEM, host: host, port: port)
        for path in serviceAccounts {
            guard let bytes = FileManager.default.contents(atPath: path) else { throw ValidationError("--service-account names \(path), which cannot be read.") }
            let account = try ServiceAccountKey(json: [UInt8](bytes))
            try sim.addAccount(email: account.clientEmail, publicKeyPEM: try account.privateKey.publicKeyPEM(), issuers: Set(issuers))
        }
        sim.update { $0.failureRate = failureRate }
        FileHandle.standardError.write(Data("Google stand-in: token URL \(sim.tokenURL), API \(sim.apiURL); clients trust \(files.authorityPath)\n".utf8))
        var printed = 0
        // Until interrupted; the calls it took are printed as they come.
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(200))
            let calls = sim.calls()
            for call in calls.dropFirst(printed) { try? Console.printJSONLine(["method": call.method, "path": call.path, "status": "\(call.status)"]) }
            printed = calls.count
        }
    }
}
