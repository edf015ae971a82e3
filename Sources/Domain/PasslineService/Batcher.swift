import Synchronization

/// Gathers requests that arrive while others of the same group are being served, and serves
/// them together: one store round (one statement, one transaction) for many requests.
///
/// A request that finds its group idle starts a batch at once, so an idle server adds no wait.
/// While a batch runs, newcomers queue; when it ends, the next batch takes up to
/// `maxBatchSize` of them in arrival order. One batch runs at a time per group. Requests that
/// clash (say two changes to one card) never share a batch: the later one waits for the next,
/// so each batch may assume its requests are independent.
final class Batcher<Group: Hashable & Sendable, Request: Sendable, Answer: Sendable>: Sendable {
    /// Serves one batch of a group, answering each request in order (as many answers as requests).
    typealias Serve = @Sendable (Group, [Request]) async -> [Result<Answer, any Error>]
    /// The names a request claims in a batch: two requests claiming one name never share a batch.
    typealias Claims = @Sendable (Request) -> [String]

    private struct Waiting {
        let request: Request
        let continuation: CheckedContinuation<Answer, any Error>
    }

    private struct State {
        var waiting: [Group: [Waiting]] = [:]
        var running: Set<Group> = []
    }

    private let maxBatchSize: Int
    private let claims: Claims?
    private let serve: Serve
    private let state = Mutex(State())

    init(maxBatchSize: Int, claims: Claims? = nil, serve: @escaping Serve) {
        self.maxBatchSize = max(1, maxBatchSize)
        self.claims = claims
        self.serve = serve
    }

    /// Queues the request and returns its answer once its batch has been served.
    func submit(_ request: Request, group: Group) async throws -> Answer {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.waiting[group, default: []].append(Waiting(request: request, continuation: continuation))
                return state.running.insert(group).inserted
            }
            if start { Task { await self.drain(group) } }
        }
    }

    /// Serves the group's batches until none of its requests is waiting.
    private func drain(_ group: Group) async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                let batch = take(from: &state.waiting[group, default: []])
                if batch.isEmpty {
                    state.waiting[group] = nil
                    state.running.remove(group)
                }
                return batch
            }
            guard !batch.isEmpty else { return }
            let answers = await serve(group, batch.map(\.request))
            for (index, waiting) in batch.enumerated() {
                guard index < answers.count else {
                    waiting.continuation.resume(throwing: BatchError.unanswered)
                    continue
                }
                waiting.continuation.resume(with: answers[index])
            }
        }
    }

    /// The next batch: waiting requests in order, skipping any that clash with one taken.
    private func take(from waiting: inout [Waiting]) -> [Waiting] {
        guard let claims else {
            let batch = Array(waiting.prefix(maxBatchSize))
            waiting.removeFirst(batch.count)
            return batch
        }
        var batch: [Waiting] = [], rest: [Waiting] = [], claimed: Set<String> = []
        for item in waiting {
            let names = claims(item.request)
            if batch.count < maxBatchSize, names.allSatisfy({ !claimed.contains($0) }) {
                batch.append(item)
                claimed.formUnion(names)
            } else {
                // A request left waiting still claims its names, so that a later one for the
                // same card cannot overtake it.
                rest.append(item)
                claimed.formUnion(names)
            }
        }
        waiting = rest
        return batch
    }

    enum BatchError: Error, CustomStringConvertible {
        case unanswered
        var description: String { "internal error: a batch returned fewer answers than it had requests" }
    }
}
