import Foundation
import Hummingbird
import LoyaltyRules
import PasslineCrypto
import PasslineService

/// Sign-in, sign-out and invitations. Before a session exists, forms carry a token that a
/// cookie of their own holds too (a double-submit check), so no other site can post them.
extension WebApp {
    @Sendable func loginPage(_ request: Request, context: Context) async throws -> Response {
        let token = SecureRandom.token(length: 32)
        return pages.render("login", ["csrf": token, "next": Self.safeNext(request.uri.queryParameters.get("next"))],
                            headers: [.setCookie: Cookies.set(Self.formCookie, token, maxAge: 3600, secure: secureCookies)])
    }

    @Sendable func login(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let form = try await form(request, csrf: Cookies.value(Self.formCookie, in: request.headers[.cookie]) ?? "\u{0}")
            let email = form.text("email") ?? "", next = Self.safeNext(form["next"])
            var values: [String: Any] = ["csrf": form["_csrf"] ?? "", "email": email, "next": next]
            if let wait = signInLimit(context.remoteIP ?? "unknown") {
                values["error"] = "Too many sign-in attempts from this address; try again in \(wait) seconds."
                return pages.render("login", values, status: .tooManyRequests, headers: [.retryAfter: String(wait)])
            }
            do {
                switch try await services.staff.signIn(email: email, password: form["password"] ?? "", tenant: form.text("tenant")) {
                case .signedIn(let signedIn):
                    return Pages.redirect(next, headers: [.setCookie: Cookies.set(Self.sessionCookie, signedIn.cookie, maxAge: Int(StaffAccounts.sessionLimit / 1000),
                                                                                 secure: secureCookies)])
                case .chooseTenant(let tenants):
                    values["tenants"] = tenants.map { ["id": $0.id, "name": $0.name] }
                    values["hasTenants"] = true
                    values["flash"] = "Your address works at several businesses: choose one and enter the password again."
                    return pages.render("login", values)
                }
            } catch let error as StaffAuthError {
                values["error"] = error.message
                return pages.render("login", values, status: .unauthorized)
            }
        }
    }

    @Sendable func logout(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .desk)
            _ = try await form(request, csrf: visit.session.csrfToken)
            if let cookie = Cookies.value(Self.sessionCookie, in: request.headers[.cookie]) { try await services.staff.signOut(cookie: cookie) }
            return Pages.redirect("/app/login", headers: [.setCookie: Cookies.set(Self.sessionCookie, "", maxAge: 0, secure: secureCookies)])
        }
    }

    @Sendable func invitePage(_ request: Request, context: Context) async throws -> Response {
        let token = try context.parameters.require("token")
        guard let (staff, tenantName) = try await services.staff.invitation(token: token) else {
            return message(nil, .notFound, heading: "Invitation not valid", text: StaffAuthError.invitationText)
        }
        let csrf = SecureRandom.token(length: 32)
        return pages.render("invite", ["csrf": csrf, "token": token, "inviteTenant": tenantName, "inviteEmail": staff.email,
                                       "inviteRole": staff.role.title, "inviteName": staff.name, "tenantName": tenantName],
                            headers: [.setCookie: Cookies.set(Self.formCookie, csrf, maxAge: 3600, secure: secureCookies)])
    }

    @Sendable func acceptInvite(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let token = try context.parameters.require("token")
            let form = try await form(request, csrf: Cookies.value(Self.formCookie, in: request.headers[.cookie]) ?? "\u{0}")
            guard let (staff, tenantName) = try await services.staff.invitation(token: token) else {
                return message(nil, .notFound, heading: "Invitation not valid", text: StaffAuthError.invitationText)
            }
            var values: [String: Any] = ["csrf": form["_csrf"] ?? "", "token": token, "inviteTenant": tenantName, "inviteEmail": staff.email,
                                         "inviteRole": staff.role.title, "inviteName": form["name"] ?? staff.name, "tenantName": tenantName]
            let password = form["password"] ?? ""
            guard password == form["confirm"] else {
                values["error"] = "The two passwords differ; type the same one twice."
                return pages.render("invite", values, status: .unprocessableContent)
            }
            do {
                let signedIn = try await services.staff.accept(token: token, password: password, name: form.text("name"))
                return Pages.redirect("/app/desk", headers: [.setCookie: Cookies.set(Self.sessionCookie, signedIn.cookie, maxAge: Int(StaffAccounts.sessionLimit / 1000),
                                                                                    secure: secureCookies)])
            } catch let error as DomainError {
                values["error"] = error.message
                return pages.render("invite", values, status: .unprocessableContent)
            } catch let error as StaffAuthError {
                return message(nil, .notFound, heading: "Invitation not valid", text: error.message)
            }
        }
    }

    /// Where to go after signing in: a path of this app only, never another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/app/"), !next.hasPrefix("//"), !next.contains("\\"), !next.contains("//"), next.utf8.count < 512,
              !next.unicodeScalars.contains(where: { $0.value < 0x20 }) else { return "/app/desk" }
        return next
    }
}

extension StaffAuthError {
    static var invitationText: String { "This invitation link is not valid any more (used, expired or replaced); ask for a new one." }
}
