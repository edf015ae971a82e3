import PasslineSQL
import PasslineStore

/// Answers devices' "which of my passes changed since this tag" polls, many in one statement.
///
/// Polls are the web service's most frequent request, and each is tiny: on PostgreSQL the
/// per-statement work (a round trip, a snapshot, executor start-up) costs more than the rows.
/// So polls that arrive while others are being answered wait for the next batch and go
/// together; a poll on an idle server is answered at once.
///
/// One batch at a time measured best (`scripts/bench-web`; BENCHMARKS.md has the figures):
/// more batches at a time were smaller, each paid the per-statement work, and kept more
/// PostgreSQL backends switching on the cores. At a few milliseconds a batch of 256, one
/// stream still answers tens of thousands of polls a second.
public final class DevicePolls: Sendable {
    public typealias Poll = DevicePollQuery.Poll

    private let batcher: Batcher<Int, Poll, UpdatedSerials?>

    /// - Parameter maxBatchSize: polls in one statement at most.
    public init(database: any SQLDatabase, maxBatchSize: Int = 256) {
        batcher = Batcher(maxBatchSize: maxBatchSize) { _, polls in
            do {
                let answers = try await database.withConnection { connection in
                    try DevicePollQuery.serialsUpdated(polls, on: connection)
                }
                return answers.map { .success($0) }
            } catch {
                return polls.map { _ in .failure(error) }
            }
        }
    }

    /// The serials of the device's passes of the type whose tag is above `since`, and the tag to
    /// ask with next; nil when nothing changed.
    public func serialsUpdated(_ poll: Poll) async throws -> UpdatedSerials? {
        try await batcher.submit(poll, group: 0)
    }
}
