import ApplePass
import Dispatch
import Foundation
import PasslineCrypto
import PasslineJSON

/// Builds many distinct passes and measures them against the bare RSA signing rate of the same
/// key, in alternating rounds so that both see the same machine conditions.
struct BuildBenchmark: Sendable {
    struct Result: Encodable {
        let passes: Int
        let seconds: Double
        let passesPerSecond: Double
        let signaturesPerSecond: Double
        let ratio: Double
        let jobs: Int
        let rssStartMiB: Double
        let rssEndMiB: Double
    }

    let template: PassTemplate
    let builder: PassBuilder
    let count: Int
    let jobs: Int

    /// Passes (and as many bare signatures) in one round. Short rounds, so that a slow spell of
    /// the machine (another tenant of the host, a frequency change) falls on both sides alike:
    /// with ten long rounds, single runs of the same build spread from 0.87 to 0.93.
    private static let roundSize = 50

    /// - Parameter progress: called with (passes built, resident MiB) about ten times.
    func run(progress: (Int, Double) -> Void) throws -> Result {
        let digest = Digest.sha256(Array("passline".utf8))
        // Warm up caches, OpenSSL's lazily fetched algorithms and the allocator.
        for i in 0..<20 { _ = try builder.build(template: template, card: card(-1 - i)) }
        let warm = try builder.identity.signerKey.makeDigestSigner()
        for _ in 0..<20 { try warm.sign(digest: digest) }

        let rssStart = Self.residentMiB()
        var passSeconds = 0.0, signSeconds = 0.0, signatures = 0, built = 0
        let reportEvery = max(1, count / 10)
        var nextReport = reportEvery
        while built < count {
            let n = min(Self.roundSize * jobs, count - built)
            let base = built
            // The cards are made before the clock starts: the benchmark measures building.
            let cards = (0..<n).map { card(base + $0) }
            passSeconds += try timed(jobs: jobs, total: n) {
                { index in _ = try builder.build(template: template, card: cards[index]) }
            }
            built += n
            // As many bare signatures as passes, on as many threads.
            signSeconds += try timed(jobs: jobs, total: n) {
                let signer = try builder.identity.signerKey.makeDigestSigner()
                return { _ in try signer.sign(digest: digest) }
            }
            signatures += n
            if built >= nextReport || built == count {
                progress(built, Self.residentMiB())
                nextReport = built + reportEvery
            }
        }
        let passesPerSecond = Double(built) / passSeconds
        let signaturesPerSecond = Double(signatures) / signSeconds
        return Result(
            passes: built, seconds: passSeconds, passesPerSecond: passesPerSecond, signaturesPerSecond: signaturesPerSecond,
            ratio: passesPerSecond / signaturesPerSecond, jobs: jobs, rssStartMiB: rssStart, rssEndMiB: Self.residentMiB()
        )
    }

    /// Runs work for i in 0..<total, split over `jobs` threads, and returns the wall time.
    /// Each thread makes its own worker first, since the bare signer is one per thread.
    private func timed(jobs: Int, total: Int, _ makeWorker: @Sendable () throws -> (Int) throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        if jobs == 1 {
            let work = try makeWorker()
            for i in 0..<total { try work(i) }
        } else {
            let failure = FailureBox()
            DispatchQueue.concurrentPerform(iterations: jobs) { job in
                let work: (Int) throws -> Void
                do { work = try makeWorker() } catch { failure.set(error); return }
                var i = job
                while i < total {
                    do { try work(i) } catch { failure.set(error); return }
                    i += jobs
                }
            }
            if let error = failure.error { throw error }
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    private func card(_ i: Int) -> CardData {
        CardData(
            serialNumber: "BENCH-\(i)",
            values: ["memberId": .string("M\(100_000 + i)"), "memberName": .string("Member \(i) Ünïcödé"), "points": .int(Int64(i % 5000)), "tier": .string(i % 3 == 0 ? "Gold" : "Silver")],
            authenticationToken: "bench-token-\(String(repeating: "x", count: 16))-\(i)",
            webServiceURL: "https://passline.example/passkit/bench"
        )
    }

    /// Current resident memory, from /proc (Linux); 0 elsewhere.
    static func residentMiB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }
}

private final class FailureBox: @unchecked Sendable {
    // Safe: every access goes through the lock.
    private let lock = NSLock()
    private var stored: Error?
    var error: Error? { lock.withLock { stored } }
    func set(_ error: Error) { lock.withLock { if stored == nil { stored = error } } }
}
