import ArgumentParser
import Foundation
import LoyaltyRules
import PasslineJSON
import PasslineService
import PasslineStore

struct CampaignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign",
        abstract: "Change every card of a template at once (reissue, new field values, a message), and follow its progress.",
        discussion: "The running `passline serve` works through the campaign; these commands start it and show done / total.",
        subcommands: [Start.self, Show.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a campaign over every card of a template.")

        @Option(help: "The tenant's id.")
        var tenant: String

        @Option(help: "The template's id or name.")
        var template: String

        @Option(help: "live or test: which of the template's cards.")
        var mode: CardModeOption = .init(.live)

        @Option(help: "A message for the lock screen, written into the template's {{message}} field.")
        var message: String?

        @Option(name: .customLong("field"), help: "KEY=VALUE merged into every card's fields (repeatable).")
        var fields: [String] = []

        @Flag(help: "Print progress until the campaign finishes.")
        var wait = false

        @OptionGroup var store: TenantCommand.StoreOptions

        func validate() throws {
            for field in fields where !field.contains("=") || field.hasPrefix("=") {
                throw ValidationError("--field must be KEY=VALUE, found \"\(field)\".")
            }
        }

        func run() async throws {
            var change = CardFieldsChange(message: message)
            for field in fields {
                let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                change.fields[String(parts[0])] = .string(String(parts[1]))
            }
            let campaigns = try await store.openCampaigns()
            let started: Campaigns.Campaign
            do { started = try await campaigns.start(tenant: tenant, mode: mode.value, template: template, change: change) } catch {
                await campaigns.cards.database.close()
                throw error
            }
            print("Started campaign \(started.id): \(started.total) card\(started.total == 1 ? "" : "s") of \(template).")
            if wait { try await CampaignCommand.follow(campaigns, tenant: tenant, id: started.id) }
            await campaigns.cards.database.close()
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A campaign's progress and push outcomes.")

        @Option(help: "The tenant's id.")
        var tenant: String

        @Option(help: "The campaign's id (cmp_…).")
        var id: String

        @Flag(help: "Print progress until the campaign finishes.")
        var wait = false

        @OptionGroup var store: TenantCommand.StoreOptions

        func run() async throws {
            let campaigns = try await store.openCampaigns()
            do {
                if wait {
                    try await CampaignCommand.follow(campaigns, tenant: tenant, id: id)
                } else {
                    print(CampaignCommand.line(try await campaigns.status(tenant: tenant, id: id)))
                }
            } catch {
                await campaigns.cards.database.close()
                throw error
            }
            await campaigns.cards.database.close()
        }
    }

    /// `cmp_…: 1200/100000 done, 0 failed, running; pushes delivered 1100`.
    static func line(_ status: CardCampaigns.Status) -> String {
        let c = status.campaign
        let pushes = status.pushes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "\(c.id): \(c.done)/\(c.total) done, \(c.failed) failed, \(c.state); pushes: \(pushes.isEmpty ? "none yet" : pushes); fetched \(status.fetched)"
    }

    /// Prints a line whenever the progress changes, until the campaign finishes.
    static func follow(_ campaigns: CardCampaigns, tenant: String, id: String) async throws {
        var last = "", still = 0
        while true {
            let status = try await campaigns.status(tenant: tenant, id: id)
            let text = line(status)
            if text != last { print(text); last = text; still = 0 } else { still += 1 }
            if status.campaign.state == "finished" { return }
            if still == 10 { Console.error("No progress for 5 seconds: is `passline serve` running against this store?") }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}

extension TenantCommand.StoreOptions {
    /// The services a campaign needs, over the store `serve` uses.
    func openCampaigns() async throws -> CardCampaigns {
        let tenants = try await open()
        let templates = Templates(database: tenants.database)
        let cards = Cards(database: tenants.database, templates: templates, tenants: tenants, publicURL: "http://unused.invalid")
        return CardCampaigns(cards: cards, jobs: JobQueue(database: tenants.database), logger: CommandLogger.shared)
    }
}
