import ApplePass
import Foundation
import Hummingbird
import LoyaltyRules
import PasslineJSON
import PasslineService

/// The manager's card design: templates (upload, preview, the default one) and the business's
/// branding (colours and logo for the app's header and the card page).
extension WebApp {
    @Sendable func templatesPage(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            return try await cardDesign(visit)
        }
    }

    func cardDesign(_ visit: Visit, error: String? = nil, flash: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        var values = visit.frame("Templates")
        values["error"] = error
        values["flash"] = flash
        let templates = try await services.branding.defaultFirst(try await services.cards.templates.list(tenant: visit.tenant, mode: mode),
                                                                  tenant: visit.tenant)
        values["hasTemplates"] = !templates.isEmpty
        values["templates"] = templates.enumerated().map { index, template -> [String: Any] in
            var entry: [String: Any] = ["id": template.id, "name": template.name, "style": template.style, "created": Self.when(template.createdAt),
                                        "isDefault": index == 0, "warnings": template.warnings]
            entry["hasWarnings"] = !template.warnings.isEmpty
            return entry
        }
        let look = visit.look
        values["background"] = look.colors.background
        values["textColor"] = look.colors.text
        values["logoVersion"] = look.hasLogo ? look.version : nil
        values["maxLogoKB"] = TenantBranding.maxLogoBytes / 1024
        return pages.render("templates", values, status: status)
    }

    /// The templates a form offers, the default first (and so chosen).
    func templateChoices(_ visit: Visit) async throws -> [[String: Any]] {
        try await services.branding.defaultFirst(try await services.cards.templates.list(tenant: visit.tenant, mode: mode), tenant: visit.tenant)
            .map { ["id": $0.id, "name": $0.name] }
    }

    @Sendable func uploadTemplate(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let form = try await upload(request, csrf: visit.session.csrfToken, limit: Int(PassTemplate.limits.maxTotalSize))
            guard let name = form.fields["name"]?.trimmingCharacters(in: .whitespaces), !name.isEmpty else {
                return try await cardDesign(visit, error: "Give the template a name, such as loyalty.", status: .unprocessableContent)
            }
            guard let file = form.files["file"], !file.bytes.isEmpty else {
                return try await cardDesign(visit, error: "Choose the template's .zip file (its pass.json, images and .lproj folders).", status: .unprocessableContent)
            }
            do {
                // Templates uploaded in the app are the business's real ones: live, like the app.
                let summary = try await services.cards.templates.create(tenant: visit.tenant, mode: mode, name: name, zip: file.bytes)
                try await services.staff.record(visit.actor, tenant: visit.tenant, action: "template.uploaded", subject: summary.name,
                                                detail: summary.warnings.isEmpty ? "" : "\(summary.warnings.count) warnings")
                return Pages.redirect("/app/templates")
            } catch let error as PassError {
                return try await cardDesign(visit, error: "The template cannot be used: \(error.message)", status: .unprocessableContent)
            } catch let error as DomainError {
                return try await cardDesign(visit, error: Self.detail(error), status: error.code == .conflict ? .conflict : .unprocessableContent)
            }
        }
    }

    @Sendable func chooseDefaultTemplate(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            _ = try await form(request, csrf: visit.session.csrfToken)
            let id = try context.parameters.require("id")
            do {
                _ = try await services.branding.setDefaultTemplate(tenant: visit.tenant, mode: mode, idOrName: id)
            } catch let error as DomainError where error.code == .notFound {
                return message(visit, .notFound, heading: "No such template", text: "No template with that id at this business.")
            }
            let name = try await services.cards.templates.summary(tenant: visit.tenant, mode: mode, idOrName: id).name
            try await services.staff.record(visit.actor, tenant: visit.tenant, action: "template.default", subject: name, detail: "")
            return Pages.redirect("/app/templates")
        }
    }

    /// A card of the template as its holder would see it, at a reminder stage (`?stage=28`) or
    /// calm, under the program in force: the public card page's own drawing, in a frame of the
    /// app's page (its inline colours need a page, and a policy, of their own).
    @Sendable func templatePreview(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let id = try context.parameters.require("id")
            let stage = request.uri.queryParameters["stage"].map(String.init) ?? "calm"
            let now = Self.now()
            let program = try await services.cards.programs.inForce(tenant: visit.tenant, mode: mode, template: id, at: now)?.program
            let sample = Self.sampleFields(stage: stage, program: program, now: now)
            let pass: [UInt8]
            do {
                pass = try await services.cards.samplePass(tenant: visit.tenant, mode: mode, template: id, memberName: "Alex Sample", points: 1_250,
                                                           fields: sample)
            } catch let error as DomainError where error.code == .notFound {
                return message(visit, .notFound, heading: "No such template", text: "No template with that id at this business.")
            } catch let error as PassError {
                return message(visit, .unprocessableContent, heading: "No preview", text: "This template cannot draw a card: \(error.message)")
            }
            let preview = try PassPreview(pkpass: pass)
            func image(_ base: String) throws -> String? {
                try (PassPreview.file("\(base)@2x.png", in: pass) ?? PassPreview.file("\(base).png", in: pass)).map {
                    "data:image/png;base64," + Data($0).base64EncodedString()
                }
            }
            let page = CardPage(preview: preview, applePassURL: "", googleSaveURL: nil, pageURL: "", logoPath: try image("logo"),
                                stripPath: try image("strip"), platform: .other, cardOnly: true)
            var headers = Pages.securityHeaders
            headers[.contentSecurityPolicy] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
            headers[.init("X-Frame-Options")!] = "SAMEORIGIN"
            headers[.contentType] = "text/html; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page.html())))
        }
    }

    /// The fields a card shows at `stage` ("calm" or a milestone's days) under `program`: the
    /// reminder's words for 250 points due at that milestone, and the first tier.
    static func sampleFields(stage: String, program: Program?, now: Int64) -> JSONObject {
        var fields = JSONObject()
        if let program, let days = Int64(stage), program.reminderDays.contains(days) {
            fields[CardLook.expiringKey] = .string(ReminderSchedule.text(points: 250, expiresAt: now + days * Timestamp.millisecondsPerDay, stage: stage, program: program))
            fields[CardLook.stageKey] = .string(stage)
        } else {
            fields[CardLook.stageKey] = .string("calm")
        }
        if let level = program?.tiers?.levels.first { fields[CardLook.tierKey] = .string(level.name) }
        return fields
    }

    /// The stages a card of the program goes through: calm, then each milestone, largest first.
    static func stages(_ program: Program?) -> [(stage: String, label: String)] {
        [("calm", "No points expiring")] + (program?.reminderDays ?? []).sorted(by: >).map { (String($0), "\($0) day\($0 == 1 ? "" : "s") before points expire") }
    }

    // MARK: Branding

    @Sendable func saveColors(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let form = try await form(request, csrf: visit.session.csrfToken)
            do {
                let look = try await services.branding.setColors(tenant: visit.tenant, background: form["background"] ?? "", text: form["text"] ?? "")
                try await services.staff.record(visit.actor, tenant: visit.tenant, action: "branding.colors", subject: look.colors.background,
                                                detail: "text \(look.colors.text)")
                return Pages.redirect("/app/templates")
            } catch let error as DomainError {
                return try await cardDesign(visit, error: Self.detail(error), status: .unprocessableContent)
            }
        }
    }

    @Sendable func saveLogo(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let form = try await upload(request, csrf: visit.session.csrfToken, limit: TenantBranding.maxLogoBytes)
            let remove = form.fields["remove"] == "1"
            let file = form.files["logo"].flatMap { $0.bytes.isEmpty ? nil : $0.bytes }
            guard remove || file != nil else { return try await cardDesign(visit, error: "Choose a PNG file for the logo.", status: .unprocessableContent) }
            do {
                _ = try await services.branding.setLogo(tenant: visit.tenant, png: remove ? nil : file)
                try await services.staff.record(visit.actor, tenant: visit.tenant, action: remove ? "branding.logo.removed" : "branding.logo", subject: "logo",
                                                detail: file.map { "\($0.count) bytes" } ?? "")
                return Pages.redirect("/app/templates")
            } catch let error as DomainError {
                return try await cardDesign(visit, error: error.message, status: .unprocessableContent)
            }
        }
    }

    /// The business's colours over the app's own: the header bar, its links and buttons.
    @Sendable func brandStylesheet(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .desk)
            let colors = visit.look.colors
            let css = """
                .bar { background: \(colors.background); color: \(colors.text); border-bottom-color: \(colors.background); }
                .bar nav a, .bar .who, .bar button.quiet { color: \(colors.text); }
                .bar nav a[aria-current="page"] { border-bottom-color: \(colors.text); }

                """
            // Its URL carries the look's version: kept privately until the look changes.
            return Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "private, max-age=31536000", .xContentTypeOptions: "nosniff"],
                            body: .init(byteBuffer: ByteBuffer(string: css)))
        }
    }

    @Sendable func brandLogo(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .desk)
            guard let bytes = try await services.branding.logo(tenant: visit.tenant) else { throw HTTPError(.notFound) }
            return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "private, max-age=31536000", .xContentTypeOptions: "nosniff"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}
