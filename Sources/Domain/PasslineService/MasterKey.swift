import Foundation
import PasslineCrypto
import PasslineSQL

/// The master key that seals secrets at rest, from `PASSLINE_MASTER_KEY` (32 bytes, base64),
/// `PASSLINE_MASTER_KEY_FILE` (a file holding that), or a key file made under `./var/` on first
/// start (mode 0600, with a warning: losing it loses every stored private key).
public enum MasterKey {
    public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public static let defaultFile = "./var/master.key"

    /// Loads (or on first start creates) the master key.
    /// - Parameters:
    ///   - environment: where to read the variables.
    ///   - defaultFile: the key file used when neither variable is set.
    ///   - warn: told when a key file is created.
    /// - Throws: `ConfigurationError` naming the variable or file at fault.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment, defaultFile: String = MasterKey.defaultFile,
                            warn: (String) -> Void) throws -> SecretBox {
        if let value = environment["PASSLINE_MASTER_KEY"], !value.isEmpty {
            return try box(from: value, source: "PASSLINE_MASTER_KEY")
        }
        let path = environment["PASSLINE_MASTER_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultFile
        if let data = FileManager.default.contents(atPath: path) {
            return try box(from: String(decoding: data, as: UTF8.self), source: path)
        }
        guard environment["PASSLINE_MASTER_KEY_FILE"] == nil else {
            throw ConfigurationError(description: "PASSLINE_MASTER_KEY_FILE names \(path), which does not exist or cannot be read.")
        }
        let key = SecretBox.generateKey()
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path, contents: Data((Data(key).base64EncodedString() + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ConfigurationError(description: "The master key file \(path) cannot be written.")
            }
        }
        warn("created a master key in \(path) (mode 0600). It encrypts every stored private key: back it up, or set PASSLINE_MASTER_KEY / PASSLINE_MASTER_KEY_FILE in production.")
        return try SecretBox(key: key)
    }

    private static func box(from text: String, source: String) throws -> SecretBox {
        try SecretBox(key: bytes(from: text, source: source))
    }

    private static func bytes(from text: String, source: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ConfigurationError(description: "\(source) is not base64; a master key is 32 random bytes in base64 (openssl rand -base64 32).")
        }
        guard data.count == 32 else {
            throw ConfigurationError(description: "\(source) holds \(data.count) bytes; a master key is exactly 32 (openssl rand -base64 32).")
        }
        return [UInt8](data)
    }

    /// The first 8 bytes of a key's SHA-256, hex: names a key without revealing it.
    public static func fingerprint(_ key: [UInt8]) -> String {
        Digest.hex(Array(Digest.sha256(key).prefix(8)))
    }

    /// Loads the master key for a store, and checks that it is the store's.
    ///
    /// - A key from the variables or the key file must open the store's check value (written
    ///   the first time a key met this store); a store from before the check must have its
    ///   sealed secrets open with it. Then the check value is written if it was not there.
    /// - No key at all: one is created, but only for a store that holds no secrets yet. A new key
    ///   for a store with secrets would open none of them, and every later secret would be sealed
    ///   with a key that opens none of the old ones.
    /// - Throws: `ConfigurationError` saying which key the store expects (its fingerprint) and
    ///   where the key was looked for.
    public static func open(database: any SQLDatabase, environment: [String: String] = ProcessInfo.processInfo.environment,
                            defaultFile: String = MasterKey.defaultFile, now: Int64 = Int64(Date().timeIntervalSince1970 * 1000),
                            warn: (String) -> Void) async throws -> SecretBox {
        let fileVariable = environment["PASSLINE_MASTER_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let path = fileVariable ?? defaultFile
        let key: [UInt8], source: String
        var created = false
        if let value = environment["PASSLINE_MASTER_KEY"], !value.isEmpty {
            (key, source) = (try bytes(from: value, source: "PASSLINE_MASTER_KEY"), "PASSLINE_MASTER_KEY")
        } else if let data = FileManager.default.contents(atPath: path) {
            (key, source) = (try bytes(from: String(decoding: data, as: UTF8.self), source: path), path)
        } else {
            let looked = "PASSLINE_MASTER_KEY is not set and \(path) does not exist"
            if let check = try await check(database) {
                throw ConfigurationError(description: "The store holds secrets sealed with the master key \(check.fingerprint), and no master key was found (\(looked)). Restore that key: set PASSLINE_MASTER_KEY or PASSLINE_MASTER_KEY_FILE, or put it in \(path).")
            }
            if try await sealedSecretCount(database) > 0 {
                throw ConfigurationError(description: "The store holds sealed secrets, and no master key was found (\(looked)). Restore the key they were sealed with: set PASSLINE_MASTER_KEY or PASSLINE_MASTER_KEY_FILE, or put it in \(path).")
            }
            guard fileVariable == nil else {
                throw ConfigurationError(description: "PASSLINE_MASTER_KEY_FILE names \(path), which does not exist or cannot be read.")
            }
            key = SecretBox.generateKey()
            let url = URL(fileURLWithPath: path)
            try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path, contents: Data((Data(key).base64EncodedString() + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ConfigurationError(description: "The master key file \(path) cannot be written.")
            }
            (source, created) = (path, true)
        }
        let box = try SecretBox(key: key)
        let fingerprint = Self.fingerprint(key)
        if let check = try await check(database) {
            guard (try? box.open(check.sealed, context: checkContext)) == Array(checkPlaintext.utf8) else {
                throw ConfigurationError(description: "The master key from \(source) (\(fingerprint)) is not the one this store's secrets are sealed with (\(check.fingerprint)). Set PASSLINE_MASTER_KEY or PASSLINE_MASTER_KEY_FILE to that key.")
            }
        } else {
            if let unopened = try await firstSecretThatDoesNotOpen(database, box) {
                throw ConfigurationError(description: "The master key from \(source) (\(fingerprint)) does not open the store's sealed secrets (\(unopened)). Set PASSLINE_MASTER_KEY or PASSLINE_MASTER_KEY_FILE to the key they were sealed with.")
            }
            let sealed = try box.seal(Array(checkPlaintext.utf8), context: checkContext)
            try await database.withConnection { connection in
                _ = try connection.execute("""
                    INSERT INTO master_key_check (id, fingerprint, sealed, created_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING
                    """, [.text(fingerprint), .blob(sealed), .int(now)])
            }
            // Another process may have written its own a moment before: it must be this key's.
            if let check = try await check(database), (try? box.open(check.sealed, context: checkContext)) != Array(checkPlaintext.utf8) {
                throw ConfigurationError(description: "The master key from \(source) (\(fingerprint)) is not the one this store's secrets are sealed with (\(check.fingerprint)). Set PASSLINE_MASTER_KEY or PASSLINE_MASTER_KEY_FILE to that key.")
            }
        }
        if created {
            warn("created a master key in \(path) (mode 0600, fingerprint \(fingerprint)). It encrypts every stored private key: back it up, or set PASSLINE_MASTER_KEY / PASSLINE_MASTER_KEY_FILE in production.")
        }
        return box
    }

    private static let checkContext = "master_key_check"
    private static let checkPlaintext = "passline master key check"

    private static func check(_ database: any SQLDatabase) async throws -> (fingerprint: String, sealed: [UInt8])? {
        try await database.withConnection { connection in
            try connection.first("SELECT fingerprint, sealed FROM master_key_check WHERE id = 1", []).map { (try $0.string("fingerprint"), try $0.blob("sealed")) }
        }
    }

    private static func sealedSecretCount(_ database: any SQLDatabase) async throws -> Int64 {
        try await database.withConnection { connection in
            try connection.first("""
                SELECT (SELECT COUNT(*) FROM signing_identities) + (SELECT COUNT(*) FROM google_issuers) + (SELECT COUNT(*) FROM webhook_endpoints) AS n
                """, [])?.int("n") ?? 0
        }
    }

    /// A store from before the check: its first sealed private key, if this key cannot open it.
    private static func firstSecretThatDoesNotOpen(_ database: any SQLDatabase, _ box: SecretBox) async throws -> String? {
        let row = try await database.withConnection { connection in
            try connection.first("SELECT tenant_id, private_key_encrypted FROM signing_identities ORDER BY tenant_id LIMIT 1", [])
                .map { (try $0.string("tenant_id"), try $0.blob("private_key_encrypted")) }
        }
        guard let (tenant, sealed) = row else { return nil }
        return (try? box.open(sealed, context: "signing_identities.private_key:\(tenant)")) == nil ? "tenant \(tenant)'s signing key" : nil
    }
}
