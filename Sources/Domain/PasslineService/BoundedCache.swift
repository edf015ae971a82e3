import Synchronization

/// A cache bounded by entry count and by bytes, dropping the least recently used first.
///
/// Recency is kept as a queue of (key, tick) with stale ticks skipped when evicting, so a hit
/// costs a dictionary update and an append, not a search; the queue is compacted once it holds
/// more than twice the live entries.
public final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var bytes: Int
        var tick: UInt64
    }
    private struct State {
        var entries: [Key: Entry] = [:]
        var order: [(key: Key, tick: UInt64)] = []
        var head = 0
        var bytes = 0
        var tick: UInt64 = 0
    }
    private let state = Mutex(State())
    public let maxCount: Int
    public let maxBytes: Int

    public init(maxCount: Int, maxBytes: Int) {
        self.maxCount = max(1, maxCount)
        self.maxBytes = max(1, maxBytes)
    }

    public func value(for key: Key) -> Value? {
        state.withLock { state in
            guard var entry = state.entries[key] else { return nil }
            state.tick += 1
            entry.tick = state.tick
            state.entries[key] = entry
            state.order.append((key, state.tick))
            Self.compactIfNeeded(&state)
            return entry.value
        }
    }

    /// Keeps `value`, unless it alone is over the byte bound (it would only push out everything else).
    public func store(_ value: Value, for key: Key, bytes: Int) {
        guard bytes <= maxBytes else { return }
        state.withLock { state in
            state.tick += 1
            if let old = state.entries.updateValue(Entry(value: value, bytes: bytes, tick: state.tick), forKey: key) { state.bytes -= old.bytes }
            state.bytes += bytes
            state.order.append((key, state.tick))
            while state.entries.count > maxCount || state.bytes > maxBytes, state.head < state.order.count {
                let (oldest, tick) = state.order[state.head]
                state.head += 1
                // A later use of the key left a newer tick: this one is stale.
                guard let entry = state.entries[oldest], entry.tick == tick else { continue }
                state.entries[oldest] = nil
                state.bytes -= entry.bytes
            }
            Self.compactIfNeeded(&state)
        }
    }

    public func removeAll(where shouldRemove: (Key) -> Bool) {
        state.withLock { state in
            for key in state.entries.keys where shouldRemove(key) {
                state.bytes -= state.entries.removeValue(forKey: key)?.bytes ?? 0
            }
        }
    }

    public var count: Int { state.withLock { $0.entries.count } }
    public var bytes: Int { state.withLock { $0.bytes } }

    private static func compactIfNeeded(_ state: inout State) {
        guard state.order.count - state.head > 2 * state.entries.count + 64 else { return }
        state.order = state.entries.map { ($0.key, $0.value.tick) }.sorted { $0.1 < $1.1 }.map { (key: $0.0, tick: $0.1) }
        state.head = 0
    }
}
