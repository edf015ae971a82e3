import Foundation

/// A seeded source of random and mutated inputs for the parsers' fuzz tests.
///
/// Each fuzz test runs for a fixed budget (`PASSLINE_FUZZ_SECONDS`, 1 s by default) from a seed
/// (`PASSLINE_FUZZ_SEED`, random by default). A failure names the seed and the input: the same
/// seed replays the same inputs in the same order.
public struct Fuzz: RandomNumberGenerator, Sendable {
    public let seed: UInt64
    private var state: UInt64

    public init(seed: UInt64? = nil) {
        let chosen = seed ?? ProcessInfo.processInfo.environment["PASSLINE_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        self.seed = chosen
        self.state = chosen
    }

    /// SplitMix64: small, fast, and the same on every platform.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// How long each fuzz test runs.
    public static var budget: Duration {
        .milliseconds(Int((ProcessInfo.processInfo.environment["PASSLINE_FUZZ_SECONDS"].flatMap(Double.init) ?? 1) * 1000))
    }

    /// Calls `body` with fresh inputs until the budget is spent (and at least `minimum` times).
    /// - Returns: how many inputs were tried.
    @discardableResult
    public mutating func run(minimum: Int = 200, _ body: (inout Fuzz) throws -> Void) rethrows -> Int {
        let clock = ContinuousClock()
        let end = clock.now + Self.budget
        var count = 0
        while count < minimum || clock.now < end {
            try body(&self)
            count += 1
        }
        return count
    }

    public mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    public mutating func bool() -> Bool { Bool.random(using: &self) }
    public mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    /// Random bytes, often from a small alphabet that makes parsers take their paths.
    public mutating func bytes(maxCount: Int, alphabet: [UInt8]? = nil) -> [UInt8] {
        let count = int(0...maxCount)
        if let alphabet, bool() { return (0..<count).map { _ in pick(alphabet) } }
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }

    /// `seed` mutated: bytes flipped, inserted, deleted, duplicated, or replaced by values at
    /// the edges (digits runs, signs, NUL, 0xFF).
    public mutating func mutate(_ seed: [UInt8], alphabet: [UInt8] = []) -> [UInt8] {
        var bytes = seed
        for _ in 0..<int(1...4) {
            switch int(0...6) {
            case 0 where !bytes.isEmpty: bytes[int(0...(bytes.count - 1))] ^= UInt8(1 << int(0...7))
            case 1: bytes.insert(alphabet.isEmpty || bool() ? UInt8.random(in: 0...255, using: &self) : pick(alphabet), at: int(0...bytes.count))
            case 2 where !bytes.isEmpty: bytes.remove(at: int(0...(bytes.count - 1)))
            case 3 where !bytes.isEmpty:
                let from = int(0...(bytes.count - 1)), to = int(from...min(bytes.count, from + 16))
                bytes.insert(contentsOf: bytes[from..<to], at: int(0...bytes.count))
            case 4: bytes.insert(contentsOf: Array(repeating: UInt8(ascii: "9"), count: int(1...40)), at: int(0...bytes.count))
            case 5 where !bytes.isEmpty: bytes[int(0...(bytes.count - 1))] = pick([0, 0xFF, 0x7F, UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: " ")])
            default: bytes = Array(bytes.prefix(int(0...bytes.count)))
            }
        }
        return bytes
    }

    public mutating func mutate(_ text: String, alphabet: String = "") -> String {
        String(decoding: mutate(Array(text.utf8), alphabet: Array(alphabet.utf8)), as: UTF8.self)
    }
}

/// A small seeded generator (SplitMix64), so that a failing random sequence can be replayed
/// from its seed.
public struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
