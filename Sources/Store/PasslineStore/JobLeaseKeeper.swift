import Foundation
import PasslineSQL
import Synchronization

/// Keeps the leases of claimed jobs while their work is under way (a batch of pushes on the
/// wire), so that no other worker claims them and does the work twice.
///
/// It renews from a thread of its own, through the store's blocking path, ahead of waiting
/// background work: a renewal that waited for the cooperative pool or behind a campaign's steps
/// came too late on a starved machine, and another worker sent the same batch again.
/// A lease that is lost all the same (the process stalled longer than a lease) is counted and
/// logged: `leasesLost`.
public final class JobLeaseKeeper: Sendable {
    /// A batch held: give it back with `release` before its jobs are settled.
    public struct Hold: Sendable, Hashable { let id: Int }

    private struct Batch {
        let ids: [Int64]
        let lease: Int64
        var renewedAt: Int64
        /// Jobs of it found taken so far: each is counted once.
        var lost = 0
    }
    private struct State {
        var batches: [Int: Batch] = [:]
        var next = 0
        var thread = false
        var stopped = false
    }

    private let queue: JobQueue
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let report: @Sendable (String) -> Void
    private let renewalFailures = Atomic<Int>(0)
    private let lost = Atomic<Int>(0)
    private let renewals = Atomic<Int>(0)

    /// - Parameter report: told, in a sentence, when a renewal failed or a lease was lost.
    public init(queue: JobQueue, report: @escaping @Sendable (String) -> Void = { _ in }) {
        self.queue = queue
        self.report = report
    }

    deinit { stop() }

    /// Renewals that failed (the store did not answer), and jobs whose lease another worker
    /// took before it was renewed: both should stay at 0.
    public var renewalFailuresCount: Int { renewalFailures.load(ordering: .relaxed) }
    public var leasesLost: Int { lost.load(ordering: .relaxed) }
    public var renewalsDone: Int { renewals.load(ordering: .relaxed) }

    /// Starts keeping `jobs`' leases (just claimed with `lease` milliseconds), renewing each
    /// when a third of it has passed.
    public func hold(_ jobs: [ClaimedJob], lease: Int64, now: Int64 = WallClock.milliseconds()) -> Hold {
        let start = state.withLock { state -> (Hold, Bool) in
            state.next += 1
            state.batches[state.next] = Batch(ids: jobs.map(\.id), lease: max(3, lease), renewedAt: now)
            defer { state.thread = true }
            return (Hold(id: state.next), !state.thread)
        }
        if start.1 {
            let thread = Thread { [self] in run() }
            thread.name = "passline.leases"
            thread.start()
        } else {
            wake.signal()
        }
        return start.0
    }

    /// Stops keeping a batch's leases. Call it before settling the batch.
    public func release(_ hold: Hold) {
        _ = state.withLock { $0.batches.removeValue(forKey: hold.id) }
    }

    public func stop() {
        let running = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return state.thread && !state.stopped
        }
        if running { wake.signal() }
    }

    private func run() {
        while true {
            let now = WallClock.milliseconds()
            let (due, wait, stopped) = state.withLock { state -> ([(Int, Batch)], Int64, Bool) in
                var due: [(Int, Batch)] = []
                var wait: Int64 = 1_000
                for (id, batch) in state.batches {
                    let next = batch.renewedAt + batch.lease / 3
                    if next <= now { due.append((id, batch)) } else { wait = min(wait, next - now) }
                }
                for (id, batch) in due { wait = min(wait, batch.lease / 3); state.batches[id]?.renewedAt = now }
                return (due, wait, state.stopped)
            }
            if stopped { return }
            if !due.isEmpty { renew(due, now: now) }
            _ = wake.wait(timeout: .now() + .milliseconds(Int(max(1, wait))))
        }
    }

    private func renew(_ due: [(Int, Batch)], now: Int64) {
        let worker = queue.worker
        let batches = due.map { ($0.1.ids, $0.1.lease) }
        let kept: [Int]
        do {
            kept = try queue.database.blockingWithConnection { connection in
                try batches.map { ids, lease in try JobQueue.extendLeases(ids, until: now + lease, worker: worker, on: connection) }
            }
        } catch {
            renewalFailures.add(1, ordering: .relaxed)
            report("could not renew the leases of \(due.count) claimed batches: \(error)")
            return
        }
        renewals.add(1, ordering: .relaxed)
        // A batch given back meanwhile may have settled before its renewal ran: only those
        // still held tell a lost lease.
        let missing = state.withLock { state in
            var newlyLost = 0
            for ((id, batch), kept) in zip(due, kept) {
                guard let held = state.batches[id] else { continue }
                let gone = batch.ids.count - kept
                if gone > held.lost {
                    newlyLost += gone - held.lost
                    state.batches[id]?.lost = gone
                }
            }
            return newlyLost
        }
        if missing > 0 {
            lost.add(missing, ordering: .relaxed)
            report("\(missing) claimed jobs lost their lease before it was renewed: another worker may do them again")
        }
    }
}
