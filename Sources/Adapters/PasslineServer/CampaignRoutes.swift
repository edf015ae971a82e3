import Foundation
import Hummingbird
import LoyaltyRules
import PasslineJSON
import PasslineService

/// Campaigns, messages and delivery tracking: the partner API's routes for changing many cards
/// at once and for seeing what reached the devices.
extension PartnerAPI {
    /// `POST /api/v1/templates/{template}/reissue` (body optional: `{"fields"?, "message"?}`) and
    /// `…/message` (`{"message"}`): 202 with the campaign, which runs in the background.
    @Sendable func startCampaign(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let template = try context.parameters.require("template")
        let messageRoute = request.uri.path.hasSuffix("/message")
        let body = try await RequestBody.bytes(request, limit: BodyLimit.card)
        let change = try Self.change(RequestBody.isBlank(body) ? nil : body, requireMessage: messageRoute)
        let campaign = try await services.campaigns.start(tenant: principal.tenant, mode: principal.mode, template: template, change: change)
        var response = JSONResponse.make(.accepted, .object(JSONObject([("campaign", Self.json(campaign, pushes: [:], fetched: 0))])))
        response.headers[.location] = "/api/v1/campaigns/\(campaign.id)"
        return response
    }

    /// `GET /api/v1/campaigns/{id}`: progress, push outcomes, and how many cards devices fetched.
    @Sendable func getCampaign(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let id = try context.parameters.require("campaign")
        let status = try await services.campaigns.status(tenant: principal.tenant, id: id)
        guard status.campaign.mode == principal.mode else { throw Problem.notFound("No campaign \(id).") }
        return JSONResponse.make(.ok, Self.json(status.campaign, pushes: status.pushes, fetched: status.fetched))
    }

    /// `POST /api/v1/cards/{serial}/message` `{"message"}`: a new version whose message field carries it.
    @Sendable func messageCard(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let change = try Self.change(try await RequestBody.bytes(request, limit: BodyLimit.small), requireMessage: true, allowFields: false)
        let card = try await services.cards.sendMessage(tenant: principal.tenant, mode: principal.mode, serial: serial, message: change.message!, jobs: services.jobs)
        return JSONResponse.make(.ok, try await json(card))
    }

    /// `GET /api/v1/cards/{serial}/delivery`: the card's registered devices, what APNs answered for
    /// them since the current version, and whether a device has fetched that version yet.
    @Sendable func cardDelivery(_ request: Request, context: Context) async throws -> Response {
        let principal = try context.principal()
        let serial = try context.parameters.require("serial")
        let card = try await services.cards.get(tenant: principal.tenant, mode: principal.mode, serial: serial)
        let delivery = try await services.cards.delivery(of: card)
        var body = JSONObject([
            ("serialNumber", .string(card.serialNumber)), ("version", .int(card.version)), ("devices", .int(Int64(delivery.devices))),
            ("pushes", Self.outcomes(delivery.outcomes)),
            ("fetchedVersion", card.fetchedVersion.map(JSONValue.int) ?? .null),
            ("fetchedAt", card.fetchedAt.map { .string(HTTPDate.iso8601($0)) } ?? .null),
            ("fetchedCurrentVersion", .bool(card.fetchedVersion == card.version)),
        ])
        if let last = delivery.last {
            body["lastPush"] = .object(JSONObject([("outcome", .string(last.outcome.rawValue)), ("reason", last.reason.map(JSONValue.string) ?? .null),
                                                   ("at", .string(HTTPDate.iso8601(last.at)))]))
        }
        return JSONResponse.make(.ok, .object(body))
    }

    /// Reads `{"fields"?, "message"?}`, naming every bad field; nil (no body) is a plain reissue.
    static func change(_ body: [UInt8]?, requireMessage: Bool, allowFields: Bool = true) throws -> CardFieldsChange {
        guard let body else {
            if requireMessage { throw Problem.invalid("message", "is required") }
            return CardFieldsChange()
        }
        let object = try RequestBody.object(RequestBody.parse(body))
        var errors: [Problem.FieldError] = []
        let allowed = allowFields ? ["fields", "message"] : ["message"]
        errors += RequestBody.unknownFields(object, allowed: allowed, of: "this request")
        var change = CardFieldsChange()
        switch object["fields"] {
        case nil: break
        case .object(let given)? where allowFields:
            for member in given.members {
                switch member.value {
                case .array, .object: errors.append(.init("fields.\(member.key)", "must be a single value, found \(member.value.typeName)"))
                default:
                    if member.key == MessageField.key { errors.append(.init("fields.message", "is set through message, which makes sure the lock screen shows it")) }
                    if ["points", "memberId", "memberName"].contains(member.key) {
                        errors.append(.init("fields.\(member.key)", "is the card's own; points change through transactions, names per card"))
                    }
                    change.fields[member.key] = member.value
                }
            }
        case let other?: if allowFields { errors.append(.init("fields", "must be an object, found \(other.typeName)")) }
        }
        switch object["message"] {
        case nil: if requireMessage { errors.append(.init("message", "is required")) }
        case .string(let text)? where !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && text.count <= 2_000 && !text.utf8.contains(0):
            change.message = text
        case .string?: errors.append(.init("message", "must be 1 to 2,000 characters of text"))
        case let other?: errors.append(.init("message", "must be a string, found \(other.typeName)"))
        }
        guard errors.isEmpty else { throw Problem.invalidFields("The change is not valid", errors) }
        return change
    }

    static func json(_ campaign: Campaign, pushes: [String: Int], fetched: Int) -> JSONValue {
        var object = JSONObject([
            ("id", .string(campaign.id)), ("template", .string(campaign.templateID)), ("kind", .string(campaign.kind)),
            ("total", .int(campaign.total)), ("done", .int(campaign.done)), ("failed", .int(campaign.failed)), ("state", .string(campaign.state)),
            ("pushes", outcomes(pushes)), ("fetched", .int(Int64(fetched))), ("createdAt", .string(HTTPDate.iso8601(campaign.createdAt))),
        ])
        if let finished = campaign.finishedAt { object["finishedAt"] = .string(HTTPDate.iso8601(finished)) }
        return .object(object)
    }

    /// Push outcomes with every key present, so a client need not guess which are missing.
    static func outcomes(_ counts: [String: Int]) -> JSONValue {
        .object(JSONObject(PushOutcome.allCases.map { ($0.rawValue, .int(Int64(counts[$0.rawValue] ?? 0))) }))
    }
}
