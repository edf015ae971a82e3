import Foundation
import Hummingbird
import Logging
import Synchronization

/// What handlers learn about a request that its log line should say (the tenant, once a key or
/// a path names it). Shared by reference: contexts are copied on the way in, the line is
/// written on the way out.
public final class RequestFacts: Sendable {
    private let tenant = Mutex<String?>(nil)
    public init() {}
    public var tenantID: String? {
        get { tenant.withLock { $0 } }
        set { tenant.withLock { $0 = newValue } }
    }
}

/// One line per request: its id, tenant (when known), route pattern, status and duration. With
/// `LOG_FORMAT=json` (a log shipper reading) they are written at info, each a JSON object whose
/// keys it can index; in text (a person reading) at debug, seen with `LOG_LEVEL=debug`.
struct AccessLogMiddleware<Context: SourceAwareRequestContext>: RouterMiddleware {
    let level: Logger.Level

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context, status: Int(response.status.code), start: start)
            return response
        } catch {
            log(request, context, status: Int((error as? any HTTPResponseError)?.status.code ?? 500), start: start)
            throw error
        }
    }

    func log(_ request: Request, _ context: Context, status: Int, start: ContinuousClock.Instant) {
        // Most processes log text at info: the line is not built at all.
        guard context.logger.logLevel <= level else { return }
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1_000 + Double(elapsed.components.attoseconds) / 1e15
        var metadata: Logger.Metadata = [
            "route": .string("\(request.method.rawValue) \(context.endpointPath ?? "unmatched")"),
            "status": .stringConvertible(status),
            "duration_ms": .stringConvertible((milliseconds * 1000).rounded() / 1000),
        ]
        if let tenant = context.facts.tenantID ?? context.parameters.get("tenant") { metadata["tenant.id"] = .string(tenant) }
        context.logger.log(level: level, "request", metadata: metadata)
    }
}
