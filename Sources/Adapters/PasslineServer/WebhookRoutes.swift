import Foundation
import Hummingbird
import LoyaltyRules
import PasslineJSON
import PasslineService

/// Webhook endpoints per key's mode, their delivery log, and replays.
extension PartnerAPI {
    func addWebhookRoutes(to api: RouterGroup<Context>, once: IdempotentRoute<Context>) {
        api.post("webhook-endpoints", use: once.wrap("POST webhook-endpoints", limit: BodyLimit.small, createWebhookEndpoint))
        api.get("webhook-endpoints", use: listWebhookEndpoints)
        api.get("webhook-endpoints/:endpoint", use: getWebhookEndpoint)
        api.patch("webhook-endpoints/:endpoint", use: once.wrap("PATCH webhook-endpoints/{endpoint}", limit: BodyLimit.small, patchWebhookEndpoint))
        api.delete("webhook-endpoints/:endpoint", use: deleteWebhookEndpoint)
        api.post("webhook-endpoints/:endpoint/rotate-secret", use: once.wrap("POST webhook-endpoints/{endpoint}/rotate-secret", limit: BodyLimit.small, rotateWebhookSecret))
        api.get("webhook-endpoints/:endpoint/deliveries", use: webhookDeliveries)
        api.post("webhook-endpoints/:endpoint/replay", use: once.wrap("POST webhook-endpoints/{endpoint}/replay", limit: BodyLimit.small, replayFailedEvents))
        api.post("events/:event/replay", use: once.wrap("POST events/{event}/replay", limit: BodyLimit.small, replayEvent))
    }

    /// `POST /api/v1/webhook-endpoints` `{"url", "events", "description"?, "disabled"?}`: 201 with
    /// the endpoint and its `secret`, shown this once.
    @Sendable func createWebhookEndpoint(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let change = try await Self.endpointChange(request)
        let (endpoint, secret) = try await services.webhooks.create(tenant: principal.tenant, mode: principal.mode, change)
        var body = Self.json(endpoint)
        body["secret"] = .string(secret)
        return JSONResponse.make(.created, .object(body))
    }

    @Sendable func listWebhookEndpoints(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let endpoints = try await services.webhooks.list(tenant: principal.tenant, mode: principal.mode)
        return JSONResponse.make(.ok, .object(JSONObject([("webhookEndpoints", .array(endpoints.map { .object(Self.json($0)) }))])))
    }

    @Sendable func getWebhookEndpoint(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let endpoint = try await services.webhooks.get(tenant: principal.tenant, mode: principal.mode, id: try context.parameters.require("endpoint"))
        return JSONResponse.make(.ok, .object(Self.json(endpoint)))
    }

    /// `PATCH …/{id}` with any of `url`, `events`, `description`, `disabled`.
    @Sendable func patchWebhookEndpoint(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let change = try await Self.endpointChange(request)
        let endpoint = try await services.webhooks.update(tenant: principal.tenant, mode: principal.mode, id: try context.parameters.require("endpoint"), change)
        return JSONResponse.make(.ok, .object(Self.json(endpoint)))
    }

    @Sendable func deleteWebhookEndpoint(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        try await services.webhooks.delete(tenant: principal.tenant, mode: principal.mode, id: try context.parameters.require("endpoint"))
        return Response(status: .noContent)
    }

    /// `POST …/{id}/rotate-secret`: a new secret; the old one signs beside it for 24 hours.
    @Sendable func rotateWebhookSecret(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let (endpoint, secret) = try await services.webhooks.rotateSecret(tenant: principal.tenant, mode: principal.mode,
                                                                          id: try context.parameters.require("endpoint"))
        var body = Self.json(endpoint)
        body["secret"] = .string(secret)
        return JSONResponse.make(.ok, .object(body))
    }

    /// `GET …/{id}/deliveries[?limit=N]`: the newest attempts first.
    @Sendable func webhookDeliveries(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        var limit = 50
        if let text = request.uri.queryParameters["limit"].map(String.init) {
            guard let value = Int(text), (1...500).contains(value) else { throw Problem.invalidParameter("limit", "must be 1 to 500") }
            limit = value
        }
        let attempts = try await services.webhooks.attempts(tenant: principal.tenant, mode: principal.mode, id: try context.parameters.require("endpoint"),
                                                            limit: limit)
        return JSONResponse.make(.ok, .object(JSONObject([("deliveries", .array(attempts.map { attempt in
            .object(JSONObject([
                ("event", .string(attempt.eventID)), ("attempt", .int(attempt.attempt)), ("outcome", .string(attempt.outcome)),
                ("status", attempt.status.map(JSONValue.int) ?? .null), ("latencyMs", .int(attempt.latencyMilliseconds)),
                ("error", attempt.error.map(JSONValue.string) ?? .null), ("response", .string(attempt.responseExcerpt)),
                ("at", .string(Timestamp.format(attempt.at))),
            ]))
        }))])))
    }

    /// `POST …/{id}/replay` `{"since"}`: every event whose delivery to it failed for good since then, again. 202.
    @Sendable func replayFailedEvents(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let object = try await RequestBody.object(request, limit: BodyLimit.small)
        var errors = RequestBody.unknownFields(object, allowed: ["since"], of: "a replay")
        var since: Int64 = 0
        switch object["since"] {
        case .string(let text)?:
            if let time = Timestamp.parse(text) { since = time } else { errors.append(.init("since", "must be an RFC 3339 time such as 2027-01-01T00:00:00Z")) }
        case nil: errors.append(.init("since", "is required: replay failed deliveries since this time"))
        case let other?: errors.append(.init("since", "must be an RFC 3339 time (a string), found \(other.typeName)"))
        }
        guard errors.isEmpty else { throw Problem.invalidFields("The replay is not valid", errors) }
        let count = try await services.webhooks.replayFailed(tenant: principal.tenant, mode: principal.mode, id: try context.parameters.require("endpoint"),
                                                             since: since)
        services.jobs.notifyCommitted()
        return JSONResponse.make(.accepted, .object(JSONObject([("enqueued", .int(Int64(count)))])))
    }

    /// `POST /api/v1/events/{id}/replay`: the event again, to every endpoint subscribed to it. 202.
    @Sendable func replayEvent(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let count = try await services.webhooks.replay(tenant: principal.tenant, mode: principal.mode, event: try context.parameters.require("event"))
        services.jobs.notifyCommitted()
        return JSONResponse.make(.accepted, .object(JSONObject([("enqueued", .int(Int64(count)))])))
    }

    static func endpointChange(_ request: Request) async throws -> Webhooks.EndpointChange {
        let object = try await RequestBody.object(request, limit: BodyLimit.small)
        var errors = RequestBody.unknownFields(object, allowed: ["url", "events", "description", "disabled"], of: "a webhook endpoint")
        var change = Webhooks.EndpointChange()
        switch object["url"] {
        case .string(let url)?: change.url = url
        case nil: break
        case let other?: errors.append(.init("url", "must be a string, found \(other.typeName)"))
        }
        switch object["events"] {
        case .array(let items)?:
            change.events = []
            for (index, item) in items.prefix(100).enumerated() {
                if let name = item.stringValue { change.events?.append(name) } else { errors.append(.init("events[\(index)]", "must be a string, found \(item.typeName)")) }
            }
            if items.count > 100 { errors.append(.init("events", "must name at most 100 types")) }
        case nil: break
        case let other?: errors.append(.init("events", "must be an array of event types, found \(other.typeName)"))
        }
        switch object["description"] {
        case .string(let text)?: change.description = text
        case nil: break
        case let other?: errors.append(.init("description", "must be a string, found \(other.typeName)"))
        }
        switch object["disabled"] {
        case .bool(let flag)?: change.disabled = flag
        case nil: break
        case let other?: errors.append(.init("disabled", "must be true or false, found \(other.typeName)"))
        }
        guard errors.isEmpty else { throw Problem.invalidFields("The webhook endpoint is not valid", errors) }
        return change
    }

    static func json(_ endpoint: Webhooks.Endpoint) -> JSONObject {
        JSONObject([
            ("id", .string(endpoint.id)), ("url", .string(endpoint.url)), ("events", .array(endpoint.events.map(JSONValue.string))),
            ("description", .string(endpoint.description)), ("mode", .string(endpoint.mode.rawValue)),
            ("disabled", .bool(endpoint.disabledAt != nil)), ("disabledReason", endpoint.disabledReason.map(JSONValue.string) ?? .null),
            ("failingSince", endpoint.failingSince.map { .string(Timestamp.format($0)) } ?? .null),
            ("secretRotating", .bool(endpoint.previousUntil.map { $0 > Int64(Date().timeIntervalSince1970 * 1_000) } ?? false)),
            ("createdAt", .string(Timestamp.format(endpoint.createdAt))), ("updatedAt", .string(Timestamp.format(endpoint.updatedAt))),
        ])
    }
}
