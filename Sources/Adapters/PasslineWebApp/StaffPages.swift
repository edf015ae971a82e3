import Foundation
import Hummingbird
import LoyaltyRules
import PasslineService

/// Owners invite staff and change their roles; managers and owners read the activity log.
extension WebApp {
    @Sendable func staffPage(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .staff)
            return try await staffList(visit)
        }
    }

    func staffList(_ visit: Visit, extra: [String: Any] = [:], status: HTTPResponse.Status = .ok) async throws -> Response {
        var values = visit.frame("Staff")
        let people = try await services.staff.list(tenant: visit.tenant)
        values["people"] = people.map { person -> [String: Any] in
            ["id": person.id, "name": person.name, "email": person.email, "roleTitle": person.role.title, "csrf": visit.session.csrfToken,
             "state": person.disabledAt != nil ? "disabled" : person.passwordHash == nil ? "invited" : "active", "disabled": person.disabledAt != nil,
             "roles": StaffRole.allCases.map { ["value": $0.rawValue, "title": $0.title, "selected": $0 == person.role] }]
        }
        values["inviteRoles"] = StaffRole.allCases.map { ["value": $0.rawValue, "title": $0.title] }
        values.merge(extra) { $1 }
        return pages.render("staff", values, status: status)
    }

    @Sendable func invite(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .staff)
            let form = try await form(request, csrf: visit.session.csrfToken)
            guard let role = form.text("role").flatMap(StaffRole.init(rawValue:)) else {
                return try await staffList(visit, extra: ["error": "Choose a role."], status: .unprocessableContent)
            }
            do {
                let invitation = try await services.staff.invite(tenant: visit.tenant, email: form.text("email") ?? "", role: role, name: form.text("name") ?? "",
                                                                 by: visit.actor)
                return try await staffList(visit, extra: ["inviteLink": invitation.link, "inviteEmailSent": invitation.staff.email])
            } catch let error as DomainError {
                return try await staffList(visit, extra: ["error": error.faults.first.map { "E-mail \($0.message)." } ?? error.message],
                                           status: error.code == .conflict ? .conflict : .unprocessableContent)
            }
        }
    }

    @Sendable func changeStaff(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .staff)
            let form = try await form(request, csrf: visit.session.csrfToken)
            let id = try context.parameters.require("id")
            do {
                switch form["action"] {
                case "role":
                    guard let role = form.text("role").flatMap(StaffRole.init(rawValue:)) else {
                        return try await staffList(visit, extra: ["error": "Choose a role."], status: .unprocessableContent)
                    }
                    _ = try await services.staff.change(tenant: visit.tenant, staffID: id, role: role, disabled: nil, by: visit.actor)
                case "disable", "enable":
                    _ = try await services.staff.change(tenant: visit.tenant, staffID: id, role: nil, disabled: form["action"] == "disable", by: visit.actor)
                default:
                    return try await staffList(visit, extra: ["error": "Unknown action."], status: .unprocessableContent)
                }
                return Pages.redirect("/app/staff")
            } catch let error as DomainError {
                return try await staffList(visit, extra: ["error": error.message], status: error.code == .notFound ? .notFound : .conflict)
            }
        }
    }

    @Sendable func activity(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            var values = visit.frame("Activity")
            values["entries"] = try await services.staff.auditLog(tenant: visit.tenant, limit: 200).map { entry -> [String: Any] in
                ["when": Self.when(entry.at), "who": entry.staffEmail, "action": entry.action, "subject": entry.subject, "detail": entry.detail]
            }
            return pages.render("activity", values)
        }
    }
}
