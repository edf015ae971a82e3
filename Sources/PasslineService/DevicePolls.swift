import PasslineSQL
import PasslineStore
import Synchronization

/// Answers devices' "which of my passes changed since this tag" polls, many in one statement.
///
/// Polls are the web service's most frequent request, and each is tiny: on PostgreSQL the
/// per-statement work (a round trip, a snapshot, executor start-up) costs more than the rows.
/// So polls that arrive while others are being answered wait for the next batch and go
/// together. A poll that finds fewer than `maxBatches` batches running starts one at once, so
/// nothing waits when the server is not busy.
///
/// One batch at a time is the default because it measured best (`scripts/bench-web`, 64
/// connections on 2 cores): 0.54-0.60 of the trivial route's requests per second, against
/// 0.44-0.53 with two batches at a time and 0.41-0.43 with four, whose smaller batches each
/// paid the per-statement work and kept more PostgreSQL backends switching on the cores. At a
/// few milliseconds a batch of 256, one stream still answers tens of thousands of polls a second.
public final class DevicePolls: Sendable {
    public typealias Poll = DeviceQueries.Poll

    private struct Waiting {
        let poll: Poll
        let continuation: CheckedContinuation<UpdatedSerials?, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var running = 0
    }

    private let database: any SQLDatabase
    private let maxBatches: Int
    private let maxBatchSize: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - maxBatches: batches running at once, each on a connection of the pool.
    ///   - maxBatchSize: polls in one statement at most.
    public init(database: any SQLDatabase, maxBatches: Int = 1, maxBatchSize: Int = 256) {
        self.database = database
        self.maxBatches = max(1, maxBatches)
        self.maxBatchSize = max(1, maxBatchSize)
    }

    /// The serials of the device's passes of the type whose tag is above `since`, and the tag to
    /// ask with next; nil when nothing changed.
    public func serialsUpdated(_ poll: Poll) async throws -> UpdatedSerials? {
        try await withCheckedThrowingContinuation { continuation in
            let startBatch = state.withLock { state -> Bool in
                state.waiting.append(Waiting(poll: poll, continuation: continuation))
                guard state.running < maxBatches else { return false }
                state.running += 1
                return true
            }
            if startBatch { Task { await self.drain() } }
        }
    }

    /// Answers batches until no poll is waiting.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                let batch = Array(state.waiting.prefix(maxBatchSize))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.running -= 1 }
                return batch
            }
            guard !batch.isEmpty else { return }
            let polls = batch.map(\.poll)
            let dialect = database.dialect
            do {
                let answers = try await database.withConnection { connection in
                    try DeviceQueries.serialsUpdated(polls, dialect: dialect, on: connection)
                }
                for (waiting, answer) in zip(batch, answers) { waiting.continuation.resume(returning: answer) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }
}
