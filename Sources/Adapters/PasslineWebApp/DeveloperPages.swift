import Foundation
import Hummingbird
import LoyaltyRules
import PasslineService

/// The owner's page for what connects the business's own systems: API keys and webhook
/// endpoints. Keys and secrets are shown once, when made.
extension WebApp {
    @Sendable func developersPage(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .staff)
            return try await developers(visit)
        }
    }

    func developers(_ visit: Visit, extra: [String: Any] = [:], status: HTTPResponse.Status = .ok) async throws -> Response {
        var values = visit.frame("Developers")
        let csrf = visit.session.csrfToken
        values["keys"] = try await services.tenants.keys(tenant: visit.tenant).map { key -> [String: Any] in
            ["prefix": key.prefix, "mode": key.mode.rawValue, "made": String(Self.when(key.createdAt).prefix(10)), "csrf": csrf,
             "state": key.revokedAt.map { "revoked \(String(Self.when($0).prefix(10)))" } ?? "active", "active": key.revokedAt == nil]
        }
        let endpoints = try await services.webhooks.list(tenant: visit.tenant, mode: mode)
        values["hasEndpoints"] = !endpoints.isEmpty
        values["endpoints"] = endpoints.map { endpoint -> [String: Any] in
            ["id": endpoint.id, "url": endpoint.url, "events": endpoint.events.joined(separator: ", "), "csrf": csrf, "disabled": endpoint.disabledAt != nil,
             "state": endpoint.disabledAt == nil ? "active" : "disabled" + (endpoint.disabledReason.map { ": \($0)" } ?? "")]
        }
        values["eventTypes"] = DomainEvent.Kind.allCases.map(\.rawValue)
        values.merge(extra) { $1 }
        return pages.render("developers", values, status: status)
    }

    @Sendable func makeKey(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .staff)
            let form = try await form(request, csrf: visit.session.csrfToken)
            let keyMode: CardMode = form["mode"] == "test" ? .test : .live
            let key = try await services.tenants.createKey(tenant: visit.tenant, mode: keyMode)
            try await services.staff.record(visit.actor, tenant: visit.tenant, action: "key.created", subject: String(key.prefix(12)), detail: keyMode.rawValue)
            return try await developers(visit, extra: ["shown": key, "shownLabel": "The new \(keyMode.rawValue) API key"])
        }
    }

    @Sendable func revokeKey(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .staff)
            let form = try await form(request, csrf: visit.session.csrfToken)
            guard let prefix = form.text("prefix"), prefix.count <= 12 else {
                return try await developers(visit, extra: ["error": "Name the key to revoke."], status: .unprocessableContent)
            }
            do {
                try await services.tenants.revokeKey(tenant: visit.tenant, key: prefix)
            } catch let error as DomainError {
                return try await developers(visit, extra: ["error": error.message], status: .notFound)
            }
            try await services.staff.record(visit.actor, tenant: visit.tenant, action: "key.revoked", subject: prefix)
            return Pages.redirect("/app/developers")
        }
    }

    @Sendable func addEndpoint(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .staff)
            let form = try await form(request, csrf: visit.session.csrfToken)
            do {
                // The event boxes repeat one name: every value counts.
                let (endpoint, secret) = try await services.webhooks.create(tenant: visit.tenant, mode: mode, .init(url: form.text("url") ?? "", events: form.all("event")))
                try await services.staff.record(visit.actor, tenant: visit.tenant, action: "webhook.created", subject: endpoint.id, detail: endpoint.url)
                return try await developers(visit, extra: ["shown": secret, "shownLabel": "The signing secret of \(endpoint.url)"])
            } catch let error as DomainError {
                let detail = Self.detail(error)
                return try await developers(visit, extra: ["error": detail], status: error.code == .conflict ? .conflict : .unprocessableContent)
            }
        }
    }

    @Sendable func changeEndpoint(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .staff)
            let form = try await form(request, csrf: visit.session.csrfToken)
            let id = try context.parameters.require("id")
            do {
                switch form["action"] {
                case "enable", "disable":
                    _ = try await services.webhooks.update(tenant: visit.tenant, mode: mode, id: id, .init(disabled: form["action"] == "disable"))
                case "delete":
                    try await services.webhooks.delete(tenant: visit.tenant, mode: mode, id: id)
                case "rotate":
                    let (endpoint, secret) = try await services.webhooks.rotateSecret(tenant: visit.tenant, mode: mode, id: id)
                    try await services.staff.record(visit.actor, tenant: visit.tenant, action: "webhook.rotated", subject: id)
                    return try await developers(visit, extra: ["shown": secret, "shownLabel": "The new signing secret of \(endpoint.url) (the old one signs for 24 hours more)"])
                default:
                    return try await developers(visit, extra: ["error": "Unknown action."], status: .unprocessableContent)
                }
                try await services.staff.record(visit.actor, tenant: visit.tenant, action: "webhook.\(form["action"] ?? "")", subject: id)
                return Pages.redirect("/app/developers")
            } catch let error as DomainError {
                return try await developers(visit, extra: ["error": error.message], status: error.code == .notFound ? .notFound : .unprocessableContent)
            }
        }
    }
}
