import ArgumentParser
import Foundation
import PasslineAPNsSim

struct APNsSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apns-sim",
        abstract: "Run the local APNs stand-in: HTTP/2 over TLS, client certificates checked, APNs' answers.",
        discussion: """
            On first start it writes its own CA and server certificate into --dir; point Passline at it with \
            PASSLINE_APNS_URL=https://127.0.0.1:PORT and PASSLINE_APNS_CA_FILE=<dir>/ca.pem. Client certificates must \
            chain to --client-ca (for the development identity: Certificates/dev/root.pem). Each push is printed as a JSON line.
            """
    )

    @Option(help: "HOST:PORT to listen on.")
    var listen = "127.0.0.1:2197"

    @Option(help: "Where its CA (ca.pem), certificate and key live; made when missing.")
    var dir = "var/apns-sim"

    @Option(name: .customLong("client-ca"), help: "PEM of the authority client certificates must chain to.")
    var clientCA: String

    @Option(name: .customLong("unregistered"), help: "A device token to answer 410 Unregistered (repeatable).")
    var unregistered: [String] = []

    @Option(name: .customLong("bad-token"), help: "A device token to answer 400 BadDeviceToken (repeatable).")
    var badTokens: [String] = []

    @Option(name: .customLong("forbidden-topic"), help: "A topic whose certificate is answered 403 BadCertificate (repeatable).")
    var forbiddenTopics: [String] = []

    @Option(name: .customLong("failure-rate"), help: "Share of requests answered 429, 500 or 503 (0 to 1).")
    var failureRate = 0.0

    @Option(name: .customLong("drop-rate"), help: "Share of requests whose connection is dropped (0 to 1).")
    var dropRate = 0.0

    @Option(name: .customLong("delay-ms"), help: "Delay before each answer.")
    var delayMilliseconds = 0

    @Option(name: .customLong("goaway-every"), help: "Send GOAWAY and close a connection after every N requests on it (0: never).")
    var goAwayEvery = 0

    @Flag(name: .customLong("allow-anonymous"), help: "Accept connections without a client certificate (for h2load).")
    var allowAnonymous = false

    func validate() throws {
        guard (0...1).contains(failureRate) else { throw ValidationError("--failure-rate must be between 0 and 1, found \(failureRate).") }
        guard (0...1).contains(dropRate) else { throw ValidationError("--drop-rate must be between 0 and 1, found \(dropRate).") }
        guard delayMilliseconds >= 0 else { throw ValidationError("--delay-ms must be zero or more.") }
        guard goAwayEvery >= 0 else { throw ValidationError("--goaway-every must be zero or more.") }
    }

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT, found \"\(listen)\".")
        }
        let host = String(listen[..<colon])
        guard let clientCAPEM = FileManager.default.contents(atPath: clientCA) else {
            throw ValidationError("--client-ca names \(clientCA), which cannot be read.")
        }
        let files = try StandInFiles.load(dir: dir, host: host, name: "Passline APNs stand-in")
        var configuration = APNsSimulator.Configuration(
            host: host, port: port, certificateChainPEM: files.certificateChainPEM, keyPEM: files.keyPEM, clientCAPEM: [UInt8](clientCAPEM),
            allowAnonymous: allowAnonymous, recordPushes: false
        )
        configuration.onPush = { push in
            try? Console.printJSONLine(["push": push.token, "topic": push.topic, "apnsId": push.apnsID, "certificate": push.certificateTopic ?? "none"])
        }
        let sim = try await APNsSimulator.start(configuration)
        sim.update { behaviour in
            for token in unregistered { behaviour.unregistered[token] = Int64(Date().timeIntervalSince1970 * 1000) }
            behaviour.badTokens = Set(badTokens)
            behaviour.forbiddenTopics = Set(forbiddenTopics)
            behaviour.failureRate = failureRate
            behaviour.dropRate = dropRate
            behaviour.delayMilliseconds = delayMilliseconds
            behaviour.goAwayEvery = goAwayEvery
        }
        FileHandle.standardError.write(Data("APNs stand-in on https://\(host):\(sim.port); clients trust \(files.authorityPath)\n".utf8))
        // Until interrupted.
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
    }
}

/// A stand-in's CA and server certificate in a folder, made on first start and reused after, so
/// clients keep trusting the same `ca.pem`.
struct StandInFiles {
    let authorityPath: String
    let certificateChainPEM: [UInt8]
    let keyPEM: [UInt8]

    static func load(dir: String, host: String, name: String) throws -> StandInFiles {
        let folder = URL(fileURLWithPath: dir)
        let files = ["ca.pem", "server.pem", "server-key.pem"].map { folder.appendingPathComponent($0) }
        if !files.allSatisfy({ FileManager.default.fileExists(atPath: $0.path) }) {
            let made = try StandInCredentials.generate(hosts: ["localhost", "127.0.0.1", host].filter { !$0.isEmpty && $0 != "0.0.0.0" }, name: name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(made.authorityPEM).write(to: files[0])
            try Data(made.certificateChainPEM).write(to: files[1])
            try Data(made.keyPEM).write(to: files[2])
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: files[2].path)
        }
        return StandInFiles(authorityPath: files[0].path, certificateChainPEM: [UInt8](try Data(contentsOf: files[1])),
                            keyPEM: [UInt8](try Data(contentsOf: files[2])))
    }
}
