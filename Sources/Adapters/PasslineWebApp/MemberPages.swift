import Foundation
import Hummingbird
import LoyaltyRules
import PasslineService

/// The members list and the business's data as CSV: every member, every points entry.
extension WebApp {
    static var membersPerPage: Int { 50 }

    @Sendable func membersPage(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            var values = visit.frame("Members")
            let query = request.uri.queryParameters.get("q") ?? ""
            let page = max(0, min(request.uri.queryParameters.get("page").flatMap { Int($0) } ?? 0, 100_000))
            let cards: [Cards.Card]
            if query.trimmingCharacters(in: .whitespaces).isEmpty {
                let (found, total) = try await services.cards.members(tenant: visit.tenant, mode: mode, offset: page * Self.membersPerPage, limit: Self.membersPerPage)
                cards = found
                let first = page * Self.membersPerPage
                values["summary"] = total == 0 ? "No members yet." : "\(first + (cards.isEmpty ? 0 : 1))–\(first + cards.count) of \(total) members."
                if page > 0 { values["previous"] = "/app/members?page=\(page - 1)" }
                if Int64(first + cards.count) < total { values["next"] = "/app/members?page=\(page + 1)" }
            } else {
                cards = try await services.cards.search(tenant: visit.tenant, mode: mode, query: query, limit: 100)
                values["summary"] = "\(cards.count) found\(cards.count == 100 ? " (the first 100)" : "")."
            }
            values["query"] = query
            values["hasCards"] = !cards.isEmpty
            values["cards"] = cards.map { card -> [String: Any] in
                ["serial": Self.path(card.serialNumber), "name": card.memberName, "memberId": card.memberID, "points": card.points,
                 "tier": card.fields["tier"]?.stringValue ?? "", "since": String(Self.when(card.createdAt).prefix(10)), "voided": card.voided]
            }
            return pages.render("members", values)
        }
    }

    /// Every card, a page of the store at a time, written as it is read.
    @Sendable func exportMembers(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            try await services.staff.record(visit.actor, tenant: visit.tenant, action: "members.exported", subject: "members.csv")
            let (cards, tenant, mode) = (services.cards, visit.tenant, self.mode)
            return CSV.stream(filename: "members-\(Self.today).csv") { write in
                try await write("serialNumber,memberId,memberName,points,tier,voided,template,createdAt,page\r\n")
                var after = ""
                while true {
                    let page = try await cards.cards(tenant: tenant, mode: mode, after: after, limit: 1_000)
                    guard let last = page.last else { break }
                    var chunk = ""
                    for card in page {
                        chunk += [card.serialNumber, card.memberID, card.memberName, String(card.points), card.fields["tier"]?.stringValue ?? "",
                                  card.voided ? "yes" : "no", card.templateID, Timestamp.format(card.createdAt), cards.pageLink(card)].csvRow
                    }
                    try await write(chunk)
                    after = last.serialNumber
                }
            }
        }
    }

    /// Every ledger entry of the tenant's cards, oldest first.
    @Sendable func exportLedger(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            try await services.staff.record(visit.actor, tenant: visit.tenant, action: "ledger.exported", subject: "ledger.csv")
            let (cards, tenant, mode) = (services.cards, visit.tenant, self.mode)
            return CSV.stream(filename: "ledger-\(Self.today).csv") { write in
                try await write("id,time,serialNumber,memberId,type,points,balanceAfter,amount,reason,purchase\r\n")
                var after: (time: Int64, id: Int64) = (Int64.min, Int64.min)
                while true {
                    let page = try await cards.ledgerEntries(tenant: tenant, mode: mode, after: after, limit: 2_000)
                    guard let last = page.last else { break }
                    var chunk = ""
                    for (serial, member, entry) in page {
                        chunk += [String(entry.id), Timestamp.format(entry.createdAt), serial, member, entry.type.rawValue, String(entry.points),
                                  String(entry.balanceAfter), entry.amount.map(String.init) ?? "", entry.reason, entry.purchaseReference ?? ""].csvRow
                    }
                    try await write(chunk)
                    after = (last.entry.createdAt, last.entry.id)
                }
            }
        }
    }
}

extension CSV {
    /// A CSV download written as it is produced, so a large export never sits whole in memory.
    static func stream(filename: String, _ produce: @escaping @Sendable (_ write: (String) async throws -> Void) async throws -> Void) -> Response {
        var headers = Pages.securityHeaders
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"\(filename)\""
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await produce { text in try await writer.write(ByteBuffer(string: text)) }
            try await writer.finish(nil)
        })
    }
}
