import Logging
import PasslineStore
import ServiceLifecycle

/// The loop every job worker runs: a batch, then (when there was nothing to do) a wait for new
/// work that no wake-up can slip past; an error is logged and retried a second later.
///
/// It stops at cancellation or at a graceful shutdown. A graceful shutdown lets the batch in
/// hand finish and settle (what was sent is recorded, nothing waits out a lease after a
/// restart), takes no new one, and wakes the loop if it was waiting for work.
public enum WorkerLoop {
    public static func run(_ name: String, jobs: JobQueue, logger: Logger, _ runOnce: @Sendable () async throws -> Int) async {
        await withGracefulShutdownHandler {
            while !isStopping {
                do {
                    let seen = jobs.workSignals
                    if try await runOnce() == 0 { await jobs.waitForWork(since: seen, timeoutMilliseconds: 1000) }
                } catch {
                    logger.error("worker batch failed", metadata: ["worker.name": .string(name), "error.message": .string("\(error)")])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        } onGracefulShutdown: {
            jobs.notifyCommitted()
        }
    }

    /// Whether a worker should take no more work: cancelled, or the process is shutting down.
    public static var isStopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}
