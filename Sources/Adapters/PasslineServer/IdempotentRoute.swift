import Foundation
import Hummingbird
import PasslineJSON
import PasslineService

/// Gives a partner write Stripe's `Idempotency-Key`: the handler runs once per key; the same
/// key and request get its answer again (errors too, marked `Idempotent-Replayed: true`);
/// another request under the key is a 422; a request while the first still runs, a 409.
/// Server errors are not kept: the key is free for a retry.
struct IdempotentRoute<Context: PartnerRequestContext>: Sendable {
    let services: Services

    /// - Parameters:
    ///   - route: the route's pattern (`POST cards/{serial}/void`); a key is the route's own.
    ///   - limit: the most of the body to read, the route's own limit.
    func wrap(_ route: String, limit: Int,
              _ handler: @escaping @Sendable (Request, Context) async throws -> Response) -> @Sendable (Request, Context) async throws -> Response {
        let services = self.services
        return { request, context in
            guard let key = try IdempotencyKeyHeader.read(request) else { return try await handler(request, context) }
            let principal = try context.principal()
            var request = request
            let body = Array(buffer: try await request.collectBody(upTo: limit))
            let scoped = IdempotentRequests.scoped(key, mode: principal.mode, route: route)
            // The path and query name the resource; the body says what to do with it.
            let hash = RequestBody.hash("\(request.method.rawValue) \(request.uri.path)?\(request.uri.query ?? "")", body)
            switch try await services.idempotency.reserve(tenant: principal.tenant, key: scoped, requestHash: hash) {
            case .answered(let status, let body, let headers):
                var fields = Self.headers(headers)
                fields[.init("Idempotent-Replayed")!] = "true"
                return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
            case .mismatch:
                throw Problem.invalid("Idempotency-Key", "was used with another request; use a new key for a new request")
            case .inProgress:
                throw Problem(.conflict, type: "conflict", title: "Not possible in the current state",
                              detail: "Another request with the Idempotency-Key \(key) is in progress; try again.")
            case .reserved:
                break
            }
            let response: Response
            do {
                response = try await handler(request, context)
            } catch {
                // A client error is the answer to keep; a server error (or one not ours) frees the key.
                if let problem = Problem.from(error), problem.status.code < 500 {
                    let answer = try problem.response(from: request, context: context)
                    _ = try await Self.keep(answer, key: scoped, tenant: principal.tenant, services: services)
                } else {
                    try? await services.idempotency.release(tenant: principal.tenant, key: scoped)
                }
                throw error
            }
            guard response.status.code < 500 else {
                try? await services.idempotency.release(tenant: principal.tenant, key: scoped)
                return response
            }
            return try await Self.keep(response, key: scoped, tenant: principal.tenant, services: services)
        }
    }

    /// Stores the answer under the key, and gives it back (its body read once, so it is rebuilt).
    static func keep(_ response: Response, key: String, tenant: String, services: Services) async throws -> Response {
        let sink = Collector.Sink()
        try await response.body.write(Collector(sink: sink))
        let bytes = Array(buffer: sink.buffer)
        var kept = JSONObject()
        if let value = response.headers[.contentType] { kept["Content-Type"] = .string(value) }
        if let value = response.headers[.location] { kept["Location"] = .string(value) }
        try await services.idempotency.complete(tenant: tenant, key: key, status: Int(response.status.code), body: bytes,
                                                headers: JSONWriter.string(.object(kept)))
        var rebuilt = response
        rebuilt.body = .init(byteBuffer: sink.buffer)
        return rebuilt
    }

    static func headers(_ stored: String) -> HTTPFields {
        var fields = HTTPFields()
        let object = (try? JSONParser.parse(Array(stored.utf8)))?.objectValue ?? JSONObject()
        if let value = object["Content-Type"]?.stringValue { fields[.contentType] = value }
        if let value = object["Location"]?.stringValue { fields[.location] = value }
        return fields
    }

    /// Reads a response's body into one buffer (the writer is consumed: the buffer outlives it in a sink).
    struct Collector: ResponseBodyWriter {
        final class Sink {
            var buffer = ByteBuffer()
        }
        let sink: Sink
        mutating func write(_ part: ByteBuffer) async throws {
            var part = part
            sink.buffer.writeBuffer(&part)
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
