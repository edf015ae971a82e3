import Foundation
import PasslineSQL
@testable import PasslineSQLite
import Synchronization
import Testing

@Suite("SQLite's work lines")
struct PrioritySchedulerTests {
    /// Submits, while the thread is held by a first background item: two background items,
    /// then two interactive ones; returns the order they ran in.
    func order(maxBackgroundWaitMilliseconds: UInt64, holdMilliseconds: UInt32) async -> [String] {
        let scheduler = PriorityScheduler(name: "test", maxBackgroundWaitMilliseconds: maxBackgroundWaitMilliseconds)
        let ran = Mutex<[String]>([])
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        scheduler.submit(.background) {
            started.signal()
            release.wait()
            ran.withLock { $0.append("hold") }
        }
        started.wait()
        for name in ["b1", "b2"] { scheduler.submit(.background) { ran.withLock { $0.append(name) } } }
        for name in ["i1", "i2"] { scheduler.submit(.interactive) { ran.withLock { $0.append(name) } } }
        usleep(holdMilliseconds * 1000)
        release.signal()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            scheduler.submit(.background, last: true) { done.resume() }
        }
        return ran.withLock { $0 }
    }

    @Test("waiting interactive work runs before background work that waited less long than the limit")
    func interactiveFirst() async {
        #expect(await order(maxBackgroundWaitMilliseconds: 60_000, holdMilliseconds: 20) == ["hold", "i1", "i2", "b1", "b2"])
    }

    @Test("background work that waited past the limit takes turns with interactive work, so neither starves")
    func backgroundNotStarved() async {
        #expect(await order(maxBackgroundWaitMilliseconds: 50, holdMilliseconds: 200) == ["hold", "b1", "i1", "b2", "i2"])
    }

    @Test("a closed database still answers later calls, with an error, in either line")
    func afterClose() async throws {
        let database = try SQLiteDatabase(path: ":memory:")
        await database.close()
        await #expect(throws: SQLError.self) { try await database.withConnection { _ in 1 } }
        await #expect(throws: SQLError.self) {
            try await SQLWorkPriority.$current.withValue(.background) { try await database.withConnection { _ in 1 } }
        }
    }
}
