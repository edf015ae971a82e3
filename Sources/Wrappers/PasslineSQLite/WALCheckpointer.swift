import CSQLite
import CThreadName
import Foundation

/// Copies the write-ahead log back into the database file on a thread and connection of its
/// own, instead of on the writer's thread right after a commit.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that takes the log past 1,000 pages:
/// the writer copies every page and waits for two fsyncs before it returns. A change that
/// queues 100,000 push jobs spent 0.43 s of its 1.05 s commit there, with every device still
/// waiting for the first push, and the same stall hit a push batch's settle every few thousand
/// pushes. A PASSIVE checkpoint on another connection does the same work beside the writer
/// without blocking it.
///
/// The log starts again from its beginning only when a write finds it wholly copied, so a
/// writer that never pauses could outrun the checkpointer and grow it without end. Once the
/// log has grown by `writerTakesOverAfterPages` more since it was first seen past that size,
/// the writer checkpoints itself right after its commit, as SQLite would have (waiting first for
/// a round of this thread's that is under way: SQLite runs one checkpoint at a time), and its
/// next write starts the log afresh. So one large commit never makes the writer wait, and the
/// log stays under about twice that size plus a commit. (PASSIVE there too: like SQLite's own,
/// it never waits for another process's readers.)
///
/// A round that left pages behind (written while it ran) is followed by another as long as
/// rounds make progress, so an idle database ends with its log copied.
///
/// The thread and its connection start with the first log that needs a checkpoint: a small
/// database never has them.
final class WALCheckpointer: @unchecked Sendable {
    // Safe to share: every variable is only touched with `condition` locked, except
    // `connection`, which only the checkpointer's thread touches.
    private let condition = NSCondition()
    private var started = false
    private var pending = false
    private var stopped = false
    private var ended = false
    /// The log's size when it was first seen past `writerTakesOverAfterPages`.
    private var overLimitAt: Int32?
    /// The writer wants the next checkpoint: SQLite lets one run at a time and would refuse it
    /// while a round of this thread's runs, so no new round starts until the writer's is done.
    private var writerTakingOver = false
    private var roundRunning = false
    private var connection: SQLiteConnection?
    private let path: String
    let startAtPages: Int32
    let writerTakesOverAfterPages: Int32

    init(path: String, startAtPages: Int32, writerTakesOverAfterPages: Int32) {
        self.path = path
        self.startAtPages = startAtPages
        self.writerTakesOverAfterPages = writerTakesOverAfterPages
    }

    /// From the writer's commit hook, with the log's size in pages. Cheap, except when the writer
    /// is to take over: then it waits for a round under way to end.
    /// - Returns: whether the writer should checkpoint itself now (and call
    ///   `writerCheckpointed()` when that succeeds; it is asked again after the next commit if not).
    func logGrew(toPages pages: Int32) -> Bool {
        guard pages >= startAtPages else { return false }
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return false }
        if pages < writerTakesOverAfterPages {
            overLimitAt = nil
        } else if let at = overLimitAt {
            if pages - at >= writerTakesOverAfterPages {
                writerTakingOver = true
                while roundRunning { condition.wait() }
                return true
            }
        } else {
            overLimitAt = pages
        }
        if !started {
            started = true
            Thread {
                passline_name_this_thread("passline.wal")  // the kernel keeps 15 bytes of a name
                self.loop()
            }.start()
        }
        if !pending {
            pending = true
            condition.broadcast()
        }
        return false
    }

    /// The writer's own checkpoint went through: the log starts afresh with the next write.
    func writerCheckpointed() {
        condition.lock()
        overLimitAt = nil
        writerTakingOver = false
        condition.broadcast()  // a round that waited for the writer's may go
        condition.unlock()
    }

    /// Ends the thread after a last checkpoint. Safe to call more than once.
    func stop() {
        condition.lock()
        defer { condition.unlock() }
        stopped = true
        condition.broadcast()
        while started && !ended { condition.wait() }
    }

    private func loop() {
        // Opening can fail (the file gone, descriptors used up): the log then waits for the
        // writer's own checkpoint or the last connection's close, as without this thread.
        connection = try? SQLiteConnection(path: path)
        condition.lock()
        var copied: Int32 = -1
        while true {
            while (!pending || writerTakingOver) && !stopped { condition.wait() }
            let last = stopped
            pending = false
            roundRunning = true
            condition.unlock()
            // A failure (another process checkpointing, say) leaves the log to the next round.
            let progress = try? connection?.checkpoint()
            condition.lock()
            roundRunning = false
            condition.broadcast()
            if last { break }
            if let progress, progress.copied < progress.logged, progress.copied != copied { pending = true }
            copied = progress?.copied ?? -1
        }
        connection = nil
        ended = true
        condition.broadcast()
        condition.unlock()
    }
}
