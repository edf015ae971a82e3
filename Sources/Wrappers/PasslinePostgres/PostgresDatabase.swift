import Dispatch
import Foundation
import PasslineSQL
import Synchronization

/// PostgreSQL through libpq, behind a pool of connections.
///
/// Each connection has a serial queue of its own on which its blocking libpq calls run, so
/// they never hold up the cooperative pool or an event loop.
public final class PostgresDatabase: SQLDatabase, SQLNotificationSource {
    public let dialect = SQLDialect.postgres
    public let conninfo: String
    private let pool: Pool

    /// - Parameters:
    ///   - conninfo: any libpq connection string (`postgres://…`, `postgresql://…`, `host=… dbname=…`).
    ///   - maxConnections: the most connections open at once.
    /// - Throws: `SQLError.connection` when the first connection fails, so a wrong URL is found at start.
    public init(conninfo: String, maxConnections: Int = 8) async throws {
        self.conninfo = conninfo
        self.pool = Pool(conninfo: conninfo, limit: maxConnections)
        let first = try await pool.acquire()
        await pool.release(first)
    }

    public func withConnection<R: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> R) async throws -> R {
        let lease = try await pool.acquire()
        do {
            let result = try await lease.run { try body($0) }
            await pool.release(lease)
            return result
        } catch {
            await pool.release(lease)
            throw error
        }
    }

    public func transaction<R: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> R) async throws -> R {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await withConnection { connection in try connection.inTransaction(body) }
            } catch let error as SQLError where error.code == .serialization && attempt < 4 {
                // Deadlocks and serialization failures leave nothing behind; the work can simply run again.
                try await Task.sleep(nanoseconds: UInt64(attempt) * 5_000_000)
            }
        }
    }

    /// LISTENs on a connection of its own, on a thread of its own (it blocks in poll), and
    /// yields once per notification. If the connection drops it reconnects after a second,
    /// and yields once then, since notifications may have been missed meanwhile.
    public func notifications(channel: String) -> AsyncStream<Void> {
        let conninfo = self.conninfo
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let stopped = StopFlag()
        continuation.onTermination = { _ in stopped.stop() }
        Thread.detachNewThread {
            while !stopped.isStopped {
                do {
                    let listener = try PostgresListener(connection: PostgresConnection(conninfo: conninfo))
                    try listener.listen(channel)
                    continuation.yield()
                    while !stopped.isStopped {
                        if !(try listener.wait(timeout: 0.5)).isEmpty { continuation.yield() }
                    }
                } catch {
                    Thread.sleep(forTimeInterval: 1)
                }
            }
            continuation.finish()
        }
        return stream
    }

    public func close() async {
        await pool.close()
        dedicated.withLock { $0 = nil }
    }

    /// A connection of its own for `blockingWithConnection`: the pool's may all be busy with the
    /// very work that is starving the process.
    private let dedicated = Mutex<PostgresConnection?>(nil)

    public func blockingWithConnection<R: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> R) throws -> R {
        try dedicated.withLock { dedicated in
            let connection = try dedicated ?? PostgresConnection(conninfo: conninfo)
            dedicated = connection
            do {
                return try body(connection)
            } catch {
                if !connection.isHealthy { dedicated = nil }
                throw error
            }
        }
    }

    /// A connection with its queue.
    final class Lease: @unchecked Sendable {
        // Safe to share: `connection` is used only on `queue`, and the pool lends a lease to one caller at a time.
        let connection: PostgresConnection
        let queue = DispatchQueue(label: "passline.postgres")
        init(_ connection: PostgresConnection) { self.connection = connection }

        func run<R: Sendable>(_ body: @Sendable @escaping (PostgresConnection) throws -> R) async throws -> R {
            try await withCheckedThrowingContinuation { continuation in
                queue.async { continuation.resume(with: Result { try body(self.connection) }) }
            }
        }
    }

    actor Pool {
        let conninfo: String
        let limit: Int
        private var idle: [Lease] = []
        private var open = 0
        private var waiters: [CheckedContinuation<Lease, any Error>] = []
        private var closed = false

        init(conninfo: String, limit: Int) {
            self.conninfo = conninfo
            self.limit = max(1, limit)
        }

        func acquire() async throws -> Lease {
            guard !closed else { throw SQLError(.connection, "The PostgreSQL pool is closed.") }
            if let lease = idle.popLast() { return lease }
            if open < limit {
                open += 1
                let conninfo = self.conninfo
                do {
                    // Connecting blocks; do it on a thread of its own.
                    return try await withCheckedThrowingContinuation { continuation in
                        DispatchQueue.global().async { continuation.resume(with: Result { Lease(try PostgresConnection(conninfo: conninfo)) }) }
                    }
                } catch {
                    open -= 1
                    throw error
                }
            }
            return try await withCheckedThrowingContinuation { waiters.append($0) }
        }

        func release(_ lease: Lease) {
            guard lease.connection.isHealthy, !closed else {
                open -= 1
                // A waiter gets a fresh connection instead of the broken one.
                if let waiter = waiters.first {
                    waiters.removeFirst()
                    Task { do { waiter.resume(returning: try await self.acquire()) } catch { waiter.resume(throwing: error) } }
                }
                return
            }
            if let waiter = waiters.first {
                waiters.removeFirst()
                waiter.resume(returning: lease)
            } else {
                idle.append(lease)
            }
        }

        func close() {
            closed = true
            open -= idle.count
            idle.removeAll()
            for waiter in waiters { waiter.resume(throwing: SQLError(.connection, "The PostgreSQL pool is closed.")) }
            waiters.removeAll()
        }
    }
}

/// A connection that LISTENs: it waits on its socket and reports the channels notified.
public final class PostgresListener {
    private let connection: PostgresConnection
    private var socket: Int32 = -1

    init(connection: PostgresConnection) { self.connection = connection }

    public func listen(_ channel: String) throws { socket = try connection.listen(channel) }

    /// Waits up to `timeout` seconds for notifications and returns the channels notified (empty on timeout).
    public func wait(timeout: Double) throws -> [String] {
        let pending = try connection.notifications()
        if !pending.isEmpty { return pending }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(timeout * 1000))
        guard ready > 0 else { return [] }
        return try connection.notifications()
    }

    /// Runs a statement on this connection (for NOTIFY in tests).
    public func execute(_ sql: String) throws { try connection.executeScript(sql) }
}

private final class StopFlag: @unchecked Sendable {
    // Safe: `stopped` is only read and written under `lock`.
    private let lock = NSLock()
    private var stopped = false
    var isStopped: Bool { lock.withLock { stopped } }
    func stop() { lock.withLock { stopped = true } }
}
