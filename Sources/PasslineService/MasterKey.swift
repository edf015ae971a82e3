import Foundation
import PasslineCrypto

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
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ConfigurationError(description: "\(source) is not base64; a master key is 32 random bytes in base64 (openssl rand -base64 32).")
        }
        guard data.count == 32 else {
            throw ConfigurationError(description: "\(source) holds \(data.count) bytes; a master key is exactly 32 (openssl rand -base64 32).")
        }
        return try SecretBox(key: [UInt8](data))
    }
}
