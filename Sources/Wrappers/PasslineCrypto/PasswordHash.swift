import COpenSSL
import Dispatch
import Synchronization

/// Staff passwords, hashed with scrypt (memory-hard: each guess costs `n × r × 128` bytes of
/// memory as well as time), through OpenSSL's `EVP_PBE_scrypt`.
///
/// A stored hash reads `scrypt$<log2 n>$<r>$<p>$<salt hex>$<hash hex>`, so the cost can rise
/// later and old hashes still check.
public enum PasswordHash {
    public struct Cost: Sendable, Equatable {
        public var log2N: Int
        public var r: Int
        public var p: Int
        public init(log2N: Int, r: Int, p: Int) { self.log2N = log2N; self.r = r; self.p = p }
        /// 32 MiB and about 0.1 s a hash on one core: the interactive login setting scrypt's
        /// authors recommend.
        public static let interactive = Cost(log2N: 15, r: 8, p: 1)
        /// For tests only: fast, and still scrypt.
        public static let fast = Cost(log2N: 10, r: 8, p: 1)
        var memory: Int { 128 * r * (1 << log2N) + 128 * r * p }
    }

    /// The hash of `password` with a fresh salt.
    public static func make(_ password: String, cost: Cost = .interactive) throws -> String {
        let salt = SecureRandom.bytes(16)
        let hash = try scrypt(Array(password.utf8), salt: salt, cost: cost)
        return "scrypt$\(cost.log2N)$\(cost.r)$\(cost.p)$\(Digest.hex(salt))$\(Digest.hex(hash))"
    }

    /// Whether `password` is the one `stored` was made from; false for a malformed `stored`.
    public static func check(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "scrypt", let log2N = Int(parts[1]), let r = Int(parts[2]), let p = Int(parts[3]),
              (10...20).contains(log2N), (1...32).contains(r), (1...16).contains(p),
              let salt = unhex(parts[4]), let expected = unhex(parts[5]), expected.count == 32,
              let actual = try? scrypt(Array(password.utf8), salt: salt, cost: Cost(log2N: log2N, r: r, p: p)) else { return false }
        return ConstantTime.equal(actual, expected)
    }

    static func scrypt(_ password: [UInt8], salt: [UInt8], cost: Cost) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        // A trailing NUL keeps the buffer non-empty (an empty password still has an address);
        // the length passed leaves it out.
        let terminated = password + [0]
        let ok = terminated.withUnsafeBufferPointer { pass in
            salt.withUnsafeBufferPointer { salt in
                pass.withMemoryRebound(to: CChar.self) { pass in
                    EVP_PBE_scrypt(pass.baseAddress, password.count, salt.baseAddress, salt.count, UInt64(1 << cost.log2N), UInt64(cost.r), UInt64(cost.p),
                                   UInt64(cost.memory + 1 << 20), &out, out.count)
                }
            }
        }
        guard ok == 1 else { throw CryptoError.openSSL(.generationFailed, "scrypt failed: \(OpenSSLErrorQueue.drain() ?? "unknown")") }
        return out
    }

    static func unhex(_ text: Substring) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0, chars.count <= 128 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        for index in stride(from: 0, to: chars.count, by: 2) {
            guard let high = value(chars[index]), let low = value(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }
}

/// Runs password hashes off the caller's thread (never on an event loop), at most `limit` at
/// once: each holds its scrypt memory while it runs, so a flood of sign-ins queues here instead
/// of exhausting memory.
public final class PasswordHasher: Sendable {
    public let cost: PasswordHash.Cost
    private let limit: Int
    private let state = Mutex<(running: Int, waiting: [CheckedContinuation<Void, Never>])>((0, []))

    public init(cost: PasswordHash.Cost = .interactive, limit: Int = 2) {
        self.cost = cost
        self.limit = max(1, limit)
    }

    public func make(_ password: String) async throws -> String {
        let cost = self.cost
        return try await run { try PasswordHash.make(password, cost: cost) }
    }

    public func check(_ password: String, against stored: String) async -> Bool {
        (try? await run { PasswordHash.check(password, against: stored) }) ?? false
    }

    /// Spends the time and memory of one check with nothing to check against: an unknown
    /// account answers no faster than a wrong password.
    public func decoy(_ password: String) async {
        let cost = self.cost
        _ = try? await run { try PasswordHash.scrypt(Array(password.utf8), salt: Array(repeating: 0, count: 16), cost: cost) }
    }

    private func run<R: Sendable>(_ work: @escaping @Sendable () throws -> R) async throws -> R {
        await acquire()
        defer { release() }
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state -> Bool in
                if state.running < limit { state.running += 1; return true }
                state.waiting.append(continuation)
                return false
            }
            if admitted { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty { state.running -= 1; return nil }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
