import Foundation
import Hummingbird
import LoyaltyRules
import PasslineCrypto
import PasslineService

/// Importing members from CSV: a check that lists every bad row, then the cards issued by a
/// job, with a page that follows it and the issued cards' links to download at the end.
extension WebApp {
    @Sendable func importPage(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            return try await importForm(visit)
        }
    }

    func importForm(_ visit: Visit, error: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        var values = visit.frame("Members")
        values["error"] = error
        values["templates"] = try await templateChoices(visit)
        return pages.render("import", values, status: status)
    }

    @Sendable func checkImport(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let form = try await upload(request, csrf: visit.session.csrfToken, limit: MemberImport.maxBytes)
            guard let file = form.files["file"], !file.bytes.isEmpty, let template = form.fields["template"] else {
                return try await importForm(visit, error: "Choose a CSV file.", status: .unprocessableContent)
            }
            guard let text = String(validating: file.bytes, as: UTF8.self) else {
                return try await importForm(visit, error: "The file is not UTF-8 text; save it from the spreadsheet as \"CSV UTF-8\".", status: .unprocessableContent)
            }
            let dryRun: MemberImports.DryRun
            do {
                dryRun = try await services.imports.check(tenant: visit.tenant, mode: mode, template: template, csv: text, staffEmail: visit.session.staff.email)
            } catch let error as DomainError {
                return try await importForm(visit, error: error.message, status: error.code == .notFound ? .notFound : .unprocessableContent)
            }
            var values = visit.frame("Members")
            values.merge(["checked": true, "importId": dryRun.importID, "rows": dryRun.rows, "hasRows": dryRun.rows > 0,
                          "faultCount": dryRun.faults.isEmpty ? nil : dryRun.faults.count as Any?,
                          "faults": dryRun.faults.prefix(1_000).map { ["line": $0.line, "message": $0.message] }].compactMapValues { $0 }) { $1 }
            return pages.render("import", values)
        }
    }

    @Sendable func startImport(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            _ = try await form(request, csrf: visit.session.csrfToken)
            let id = try context.parameters.require("id")
            do {
                let started = try await services.imports.start(tenant: visit.tenant, id: id)
                try await services.staff.record(visit.actor, tenant: visit.tenant, action: "members.imported", subject: id, detail: "\(started.total) rows")
            } catch let error as DomainError where error.code == .conflict {
                // Sent twice: the import runs once; show it.
            } catch let error as DomainError where error.code == .notFound {
                return message(visit, .notFound, heading: "No such import", text: error.message)
            }
            return Pages.redirect("/app/imports/\(id)")
        }
    }

    @Sendable func importProgress(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let found: MemberImports.Import
            do { found = try await services.imports.status(tenant: visit.tenant, id: try context.parameters.require("id")) } catch let error as DomainError where error.code == .notFound {
                return message(visit, .notFound, heading: "No such import", text: error.message)
            }
            var values = visit.frame("Members")
            values.merge(["id": found.id, "total": found.total, "totalOrOne": max(found.total, 1), "done": found.done, "handled": found.done + found.failed,
                          "failed": found.failed > 0 ? found.failed : nil as Any?, "error": found.error as Any?, "finished": found.isFinished,
                          "state": found.isFinished ? "Finished" : found.state == "running" ? "Issuing cards…" : "Checked, not started"].compactMapValues { $0 }) { $1 }
            if found.state == "running" { values["refresh"] = 2 }
            return pages.render("import-progress", values)
        }
    }

    @Sendable func importedCards(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let id = try context.parameters.require("id")
            let results: [(line: Int64, card: Cards.Card?, error: String?)]
            do { results = try await services.imports.issued(tenant: visit.tenant, id: id) } catch let error as DomainError where error.code == .notFound {
                return message(visit, .notFound, heading: "No such import", text: error.message)
            }
            var csv = "line,memberId,memberName,points,serialNumber,page,error\r\n"
            for (line, card, error) in results {
                csv += [String(line), card?.memberID ?? "", card?.memberName ?? "", card.map { String($0.points) } ?? "", card?.serialNumber ?? "",
                        card.map { services.cards.pageLink($0) } ?? "", error ?? ""].csvRow
            }
            return CSV.response(csv, filename: "\(id)-cards.csv")
        }
    }
}
