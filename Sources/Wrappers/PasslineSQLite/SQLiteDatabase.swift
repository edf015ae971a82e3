import Dispatch
import CThreadName
import Foundation
import PasslineSQL

/// An SQLite database in one file: the embedded default.
///
/// One connection, confined to a thread of its own: SQLite has one writer at a time anyway,
/// and blocking calls stay off the cooperative pool and the event loops. Work waits in two
/// lines, and the thread takes interactive work first (see `SQLWorkPriority`).
public final class SQLiteDatabase: SQLDatabase, @unchecked Sendable {
    // Safe to share: `connection` is touched only on the scheduler's thread, one closure at a time.
    public let dialect = SQLDialect.sqlite
    public let path: String
    private let scheduler: PriorityScheduler
    private var connection: SQLiteConnection?
    private let checkpointer: WALCheckpointer?

    /// Opens (creating if needed) the database at `path`; `:memory:` for a private in-memory one.
    /// - Throws: `SQLError.connection` naming the path.
    public convenience init(path: String) throws {
        try self.init(path: path, checkpointAtPages: 1_000, writerCheckpointsAfterPages: 8_000)
    }

    /// With the write-ahead log's limits (see `WALCheckpointer`) set: tests use small ones, so
    /// that they need not write a hundred megabytes to pass them.
    package init(path: String, checkpointAtPages: Int32, writerCheckpointsAfterPages: Int32) throws {
        if path != ":memory:" && !path.hasPrefix("file:") {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
            try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        self.path = path
        self.scheduler = PriorityScheduler(name: "passline.sqlite")
        let connection = try SQLiteConnection(path: path)
        checkpointer = connection.isWAL
            ? WALCheckpointer(path: path, startAtPages: checkpointAtPages, writerTakesOverAfterPages: writerCheckpointsAfterPages) : nil
        if let checkpointer { connection.checkpoint(with: checkpointer) }
        self.connection = connection
    }

    deinit { checkpointer?.stop() }

    public func withConnection<R: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> R) async throws -> R {
        try await run { connection in try body(connection) }
    }

    public func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> R) async throws -> R {
        try await run { connection in
            // IMMEDIATE takes the write lock up front, so two transactions never deadlock upgrading.
            try connection.inTransaction(begin: "BEGIN IMMEDIATE", body)
        }
    }

    public func blockingWithConnection<R: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> R) throws -> R {
        let done = DispatchSemaphore(value: 0)
        let result = BlockingResult<R>()
        scheduler.submit(.interactive) {
            result.value = self.connection.map { connection in Result { try body(connection) } }
                ?? .failure(SQLError(.connection, "The SQLite database \(self.path) is closed."))
            done.signal()
        }
        done.wait()
        return try result.value!.get()
    }

    /// Closes after the work already waiting, in both lines, has run.
    public func close() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            scheduler.submit(.background, last: true) {
                self.connection = nil
                self.checkpointer?.stop()
                done.resume()
            }
        }
    }

    private func run<R: Sendable>(_ body: @Sendable @escaping (SQLiteConnection) throws -> R) async throws -> R {
        let priority = SQLWorkPriority.current
        return try await withCheckedThrowingContinuation { continuation in
            scheduler.submit(priority) {
                guard let connection = self.connection else {
                    continuation.resume(throwing: SQLError(.connection, "The SQLite database \(self.path) is closed."))
                    return
                }
                continuation.resume(with: Result { try body(connection) })
            }
        }
    }
}

/// One thread that runs submitted work one item at a time: waiting interactive work before
/// background work. Background work that has waited longer than `maxBackgroundWait` takes
/// turns with interactive work, one item each, so a steady stream of requests cannot stall a
/// campaign for good, and a request waits behind at most one background item besides the one
/// running (letting every overdue item go first put single changes back behind whole batches).
final class PriorityScheduler: @unchecked Sendable {
    // Safe to share: every stored property but the constant is only touched with `condition` locked.
    private let condition = NSCondition()
    private var interactive: [@Sendable () -> Void] = []
    private var background: [(since: UInt64, work: @Sendable () -> Void)] = []
    /// The last item was submitted: the thread ends once both lines are empty.
    private var stopped = false
    private var ended = false
    /// The item just taken was overdue background work: interactive work goes next.
    private var tookOverdue = false
    private let maxBackgroundWait: UInt64

    init(name: String, maxBackgroundWaitMilliseconds: UInt64 = 100) {
        maxBackgroundWait = maxBackgroundWaitMilliseconds * 1_000_000
        // The thread holds the scheduler until it ends.
        Thread {
            passline_name_this_thread(name)  // for top -H, perf and the push benchmark
            self.loop()
        }.start()
    }

    /// - Parameter last: the closing item; once it and everything still waiting has run, the
    ///   thread ends, and later work runs on a global queue (it only finds the database closed).
    func submit(_ priority: SQLWorkPriority, last: Bool = false, _ work: @escaping @Sendable () -> Void) {
        condition.lock()
        defer { condition.unlock() }
        if ended {
            DispatchQueue.global().async(execute: work)
            return
        }
        switch priority {
        case .interactive: interactive.append(work)
        case .background: background.append((DispatchTime.now().uptimeNanoseconds, work))
        }
        if last { stopped = true }
        condition.signal()
    }

    private func loop() {
        condition.lock()
        while true {
            while interactive.isEmpty && background.isEmpty {
                if stopped {
                    ended = true
                    condition.unlock()
                    return
                }
                condition.wait()
            }
            let work: @Sendable () -> Void
            let backgroundDue = background.first.map { DispatchTime.now().uptimeNanoseconds - $0.since >= maxBackgroundWait } ?? false
            if !interactive.isEmpty && (!backgroundDue || tookOverdue) {
                work = interactive.removeFirst()
                tookOverdue = false
            } else {
                work = background.removeFirst().work
                tookOverdue = backgroundDue
            }
            condition.unlock()
            work()
            condition.lock()
        }
    }
}

/// The answer of a blocking call, handed from the scheduler's thread to the waiting one.
private final class BlockingResult<R>: @unchecked Sendable {
    // Safe: written once on the scheduler's thread before the semaphore is signalled, read
    // after the waiter has passed it.
    var value: Result<R, any Error>?
}
