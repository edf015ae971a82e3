import Logging
import PasslineStore

/// The loop every job worker runs: a batch, then (when there was nothing to do) a wait for new
/// work that no wake-up can slip past; an error is logged and retried a second later.
public enum WorkerLoop {
    public static func run(_ name: String, jobs: JobQueue, logger: Logger, _ runOnce: @Sendable () async throws -> Int) async {
        while !Task.isCancelled {
            do {
                let seen = jobs.workSignals
                if try await runOnce() == 0 { await jobs.waitForWork(since: seen, timeoutMilliseconds: 1000) }
            } catch {
                logger.error("\(name): \(error)")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
