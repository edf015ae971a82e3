import Foundation
import Hummingbird
import LoyaltyRules
import PasslineJSON
import PasslineService

/// The manager's pages: the program's earning rules, expiry and reminders, and messages to all
/// cards of a template or a segment of them, now or later, with their progress.
extension WebApp {
    // MARK: The program

    @Sendable func programPage(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            return try await programForm(visit)
        }
    }

    func programForm(_ visit: Visit, error: String? = nil, status: HTTPResponse.Status = .ok, submitted: WebForm? = nil) async throws -> Response {
        var values = visit.frame("Program")
        values["error"] = error
        let version = try await services.cards.programs.inForce(tenant: visit.tenant, mode: mode, at: Self.now())
        let program = version?.program
        var rules = (program?.earnRules ?? []).map { (methods: $0.paymentMethods.joined(separator: ", "), percent: String($0.percent)) }
        while rules.count < 3 { rules.append(("", "")) }
        values["rules"] = rules.enumerated().map { index, rule -> [String: Any] in
            ["index": index, "methods": submitted?["methods\(index)"] ?? rule.methods, "percent": submitted?["percent\(index)"] ?? rule.percent]
        }
        values["currency"] = submitted?["currency"] ?? program?.currency.code ?? "EUR"
        values["rounding"] = program?.rounding.rawValue ?? "down"
        values["expiryDays"] = submitted?["expiryDays"] ?? program?.expiry.map { String($0.afterDays) } ?? ""
        values["fromLastPurchase"] = (submitted?["expiryFrom"] ?? program?.expiry?.from.rawValue) == "lastPurchase"
        values["reminders"] = submitted?["reminders"] ?? program?.reminderDays.map(String.init).joined(separator: ", ") ?? ""
        // The words of each saved milestone; a milestone added in the form gets its words once saved.
        let now = Self.now()
        if let program {
            // Each milestone's default words, as the placeholder of its field.
            var plain = program
            plain.reminderTexts = [:]
            values["reminderTexts"] = program.reminderDays.sorted(by: >).map { days -> [String: Any] in
                let example = ReminderSchedule.text(points: 250, expiresAt: now + days * Timestamp.millisecondsPerDay, stage: String(days), program: plain)
                return ["days": days, "text": submitted?["text-\(days)"] ?? program.reminderTexts[days] ?? "", "example": example]
            }
        }
        var levels = (program?.tiers?.levels ?? []).map { level in
            (name: level.name, min: String(level.minPoints), bonus: program?.tierMultipliers.first { $0.tier == level.name }.map { String($0.percent) } ?? "")
        }
        while levels.count < Self.tierRows { levels.append(("", "", "")) }
        values["tierWindow"] = submitted?["tierWindow"] ?? program?.tiers.map { String($0.windowDays) } ?? "365"
        values["tiers"] = levels.prefix(Self.tierRows).enumerated().map { index, level -> [String: Any] in
            ["index": index, "number": index + 1, "name": submitted?["tierName\(index)"] ?? level.name, "min": submitted?["tierMin\(index)"] ?? level.min,
             "bonus": submitted?["tierBonus\(index)"] ?? level.bonus]
        }
        // The card at each stage, drawn from the default template under the saved program.
        if let template = try await services.branding.defaultTemplate(tenant: visit.tenant, mode: mode) {
            values["previewTemplate"] = template.name
            values["previews"] = Self.stages(program).map { ["url": "/app/templates/\(template.id)/preview?stage=\($0.stage)", "label": $0.label] }
        }
        if let version {
            values["version"] = ["version": version.version, "effective": Self.when(version.effectiveAt), "changedBy": version.changedBy ?? ""] as [String: Any]
        }
        let rewards = try await services.rewards.list(tenant: visit.tenant, mode: mode)
        values["hasRewards"] = !rewards.isEmpty
        values["rewardList"] = rewards.map { entry -> [String: Any] in
            ["name": entry.reward.name, "cost": entry.reward.cost, "description": entry.reward.description ?? "",
             "limit": entry.reward.limit.map { "\($0.count) in \($0.perDays) days" } ?? "none"]
        }
        return pages.render("program", values, status: status)
    }

    @Sendable func saveProgram(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let form = try await form(request, csrf: visit.session.csrfToken)
            let current = try await services.cards.programs.inForce(tenant: visit.tenant, mode: mode, at: Self.now())?.program
            // What the form does not show (quiet hours, the time zone, minimum amounts) stays as it is.
            var document = current?.json ?? JSONObject()
            var problems: [String] = []
            var rules: [JSONValue] = []
            for index in 0..<3 {
                let methods = (form["methods\(index)"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
                let percentText = form.text("percent\(index)")
                if methods.isEmpty && percentText == nil { continue }
                guard let percent = percentText.flatMap({ Int64($0) }) else {
                    problems.append("Rule \(index + 1): the percent must be a whole number, such as 10.")
                    continue
                }
                let minimum = current?.earnRules.first { Set($0.paymentMethods) == Set(methods) }?.minimumAmount ?? 0
                rules.append(.object(JSONObject([("paymentMethods", .array(methods.map(JSONValue.string))), ("percent", .int(percent)),
                                                 ("minimumAmount", .int(minimum))])))
            }
            document["earnRules"] = .array(rules)
            document["currency"] = .string((form.text("currency") ?? "").uppercased())
            if let days = form.text("expiryDays") {
                if let afterDays = Int64(days) {
                    document["expiry"] = .object(JSONObject([("afterDays", .int(afterDays)), ("from", .string(form["expiryFrom"] == "lastPurchase" ? "lastPurchase" : "earned"))]))
                } else { problems.append("Expiry: the days must be a whole number, such as 180, or empty for never.") }
            } else {
                document["expiry"] = .null
            }
            let reminderTexts = (form["reminders"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let reminders = reminderTexts.compactMap { Int64($0) }
            if reminders.count != reminderTexts.count { problems.append("Reminders: the days must be whole numbers, such as 28, 7.") }
            var texts = JSONObject()
            for days in reminders.sorted(by: >) {
                if let words = form.text("text-\(days)") { texts[String(days)] = .string(words) }
            }
            document["reminders"] = .object(JSONObject([("daysBefore", .array(reminders.map(JSONValue.int))), ("texts", .object(texts))]))
            // Tiers: the rows with a name, in the order given; none turns tiers off.
            var levels: [JSONValue] = [], multipliers = JSONObject()
            for index in 0..<Self.tierRows {
                guard let name = form.text("tierName\(index)") else { continue }
                guard let minimum = Int64(form.text("tierMin\(index)") ?? (levels.isEmpty ? "0" : "")) else {
                    problems.append("Tier \(index + 1): the points to reach it must be a whole number, such as 1000.")
                    continue
                }
                levels.append(.object(JSONObject([("name", .string(name)), ("minPoints", .int(minimum))])))
                if let bonus = form.text("tierBonus\(index)") {
                    if let percent = Int64(bonus) { if percent > 0 { multipliers[name] = .int(percent) } } else {
                        problems.append("Tier \(index + 1): the extra percent must be a whole number, such as 50.")
                    }
                }
            }
            if levels.isEmpty {
                document["tiers"] = .null
                // Extra points for a tier a partner sets on the card stay when the program keeps no tiers.
                if current?.tiers != nil { document["tierMultipliers"] = .object(JSONObject()) }
            } else {
                guard let window = Int64(form.text("tierWindow") ?? "") else {
                    return try await programForm(visit, error: "Tiers: the window must be a whole number of days, such as 365.", status: .unprocessableContent, submitted: form)
                }
                document["tiers"] = .object(JSONObject([("windowDays", .int(window)), ("levels", .array(levels))]))
                document["tierMultipliers"] = .object(multipliers)
            }
            document["effectiveAt"] = nil
            if !problems.isEmpty {
                return try await programForm(visit, error: problems.joined(separator: " "), status: .unprocessableContent, submitted: form)
            }
            do {
                let version = try await services.cards.programs.change(tenant: visit.tenant, mode: mode, document: document, actor: "staff:\(visit.session.staff.email)")
                let summary = rules.compactMap { $0.objectValue }.map { rule in
                    "\((rule["paymentMethods"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: "/")) \(rule["percent"]?.intValue ?? 0)%"
                }.joined(separator: ", ")
                try await services.staff.record(visit.actor, tenant: visit.tenant, action: "program.changed", subject: "version \(version.version)",
                                                detail: summary.isEmpty ? "no earning rules" : summary)
                return Pages.redirect("/app/program")
            } catch let error as DomainError {
                let detail = Self.detail(error)
                return try await programForm(visit, error: detail, status: .unprocessableContent, submitted: form)
            }
        }
    }

    @Sendable func addReward(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let form = try await form(request, csrf: visit.session.csrfToken)
            var document = JSONObject([("name", .string(form.text("name") ?? ""))])
            guard let cost = form.text("cost").flatMap({ Int64($0) }) else {
                return try await programForm(visit, error: "A reward's cost must be a whole number of points, such as 100.", status: .unprocessableContent)
            }
            document["cost"] = .int(cost)
            if let count = form.text("limitCount"), let days = form.text("limitDays") {
                guard let count = Int64(count), let days = Int64(days) else {
                    return try await programForm(visit, error: "The limit must be whole numbers: so many times in so many days.", status: .unprocessableContent)
                }
                document["limit"] = .object(JSONObject([("count", .int(count)), ("perDays", .int(days))]))
            }
            do {
                let entry = try await services.rewards.create(tenant: visit.tenant, mode: mode, document: document)
                try await services.staff.record(visit.actor, tenant: visit.tenant, action: "reward.created", subject: entry.reward.name, detail: "\(entry.reward.cost) points")
                return Pages.redirect("/app/program")
            } catch let error as DomainError {
                let detail = Self.detail(error)
                return try await programForm(visit, error: detail, status: error.code == .conflict ? .conflict : .unprocessableContent)
            }
        }
    }

    /// Tier rows the form offers (a program may have up to 10; five fit a page and a business).
    static var tierRows: Int { 5 }

    // MARK: Messages

    @Sendable func messagesPage(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            return try await messages(visit)
        }
    }

    func messages(_ visit: Visit, error: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        var values = visit.frame("Messages")
        values["error"] = error
        values["templates"] = try await templateChoices(visit)
        let campaigns = try await services.campaigns.list(tenant: visit.tenant, mode: mode).filter { $0.kind == "message" }
        values["hasCampaigns"] = !campaigns.isEmpty
        values["campaigns"] = campaigns.map { campaign -> [String: Any] in
            ["id": campaign.id, "when": Self.when(campaign.startsAt ?? campaign.createdAt), "segment": campaign.segment.description,
             "state": Self.state(campaign), "done": campaign.done, "total": campaign.total]
        }
        return pages.render("messages", values, status: status)
    }

    static func state(_ campaign: Campaign) -> String {
        !campaign.cardsChosen ? "planned" : campaign.state == "finished" ? "sent" : "sending"
    }

    @Sendable func sendMessage(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let form = try await form(request, csrf: visit.session.csrfToken)
            guard let message = form.text("message"), let template = form.text("template") else {
                return try await messages(visit, error: "Choose the cards and write the message.", status: .unprocessableContent)
            }
            var problems: [String] = []
            func number(_ name: String, _ label: String) -> Int64? {
                guard let text = form.text(name) else { return nil }
                guard let value = Int64(text), value >= 0 else { problems.append("\(label) must be a whole number."); return nil }
                return value
            }
            let segment = Segment(minBalance: number("minBalance", "At least … points"), expiringWithinDays: number("expiringWithinDays", "Expiring within … days"),
                                  noVisitForDays: number("noVisitForDays", "Not visited for … days"))
            var startsAt: Int64?
            if let text = form.text("sendAt") {
                if let time = Self.localTime(text) { startsAt = time } else { problems.append("Send at must be a date and time, such as 2027-01-15T09:30.") }
            }
            if !problems.isEmpty { return try await messages(visit, error: problems.joined(separator: " "), status: .unprocessableContent) }
            do {
                let campaign = try await services.campaigns.start(tenant: visit.tenant, mode: mode, template: template,
                                                                  change: CardFieldsChange(message: message), segment: segment, startsAt: startsAt)
                try await services.staff.record(visit.actor, tenant: visit.tenant, action: "message.sent", subject: campaign.id,
                                                detail: "\(segment.description): \(message.prefix(120))")
                return Pages.redirect("/app/messages/\(campaign.id)")
            } catch let error as DomainError {
                let detail = Self.detail(error)
                return try await messages(visit, error: detail, status: error.code == .notFound ? .notFound : .unprocessableContent)
            }
        }
    }

    @Sendable func campaignPage(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let status: CardCampaigns.Status
            do { status = try await services.campaigns.status(tenant: visit.tenant, id: try context.parameters.require("id")) } catch let error as DomainError where error.code == .notFound {
                return message(visit, .notFound, heading: "No such message", text: "No message with that id at this business.")
            }
            let campaign = status.campaign
            var values = visit.frame("Messages")
            values["segment"] = campaign.segment.description
            values["state"] = Self.state(campaign).capitalized
            values["startsAt"] = campaign.cardsChosen ? nil : campaign.startsAt.map(Self.when)
            values["done"] = campaign.done
            values["total"] = campaign.total
            values["totalOrOne"] = max(campaign.total, 1)
            values["failed"] = campaign.failed > 0 ? campaign.failed : nil
            values["pushes"] = status.pushes.isEmpty ? nil : status.pushes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            // The page follows a campaign in progress by itself.
            if campaign.state != "finished" { values["refresh"] = campaign.cardsChosen ? 2 : 30 }
            return pages.render("campaign", values)
        }
    }

    /// A `datetime-local` value, read as UTC.
    static func localTime(_ text: String) -> Int64? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        for format in ["yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        }
        return nil
    }
}
